"""The session's fault proxies: one `LinkProxy` per link a fault of the run names, started only
in runs that use faults (a selected scenario's `faults:`, `harness run --faults NAME`, a load
profile's fault windows), stopped with the environment's other parts.

The agent's template context `deps.NAME.*` (url, host, port) points at the proxy; the harness's
own connections (fixtures, checks, invariants, preflight) keep the dependency's real address,
so judging is never faulted. Each proxy is seeded from the run's seed and the link's name, so
which connections a toxicity hits replays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from harness.core import Case
from harness.core.events import Emit, Note
from harness.deps.base import Endpoint
from harness.errors import ConfigError
from harness.generate.values import derive_seed
from harness.run.plan import faulted
from harness.spec.loader import did_you_mean
from harness.spec.suite import Suite

if TYPE_CHECKING:  # a run with faults imports it (start_proxies)
    from harness.faults import LinkProxy


def scenario_links(suite: Suite, cases: Iterable[Case]) -> set[str]:
    """The links the scenario faults of these cases name."""
    scenarios = {s.id: s for s in suite.scenarios}
    return {
        fault.link
        for scenario_id in {c.scenario for c in cases}
        if scenario_id in scenarios
        for fault in scenarios[scenario_id].faults
    }


def profile_links(suite: Suite, profile: str | None) -> set[str]:
    """The links a fault profile of suite.yaml names (none for None)."""
    if profile is None:
        return set()
    return {fault.link for fault in suite.manifest.faults.profiles[profile].faults}


def with_profile(suite: Suite, cases: list[Case], profile: str | None) -> list[Case]:
    """`--faults NAME`: the profile's cases (its `scenarios`, default all) each twice, clean
    (its own id) and faulted (`<id>~NAME`, `Case.fault`, values of its own: `run/plan.py`
    `faulted`); an unknown NAME is exit 2."""
    if profile is None:
        return cases
    profiles = suite.manifest.faults.profiles
    if profile not in profiles:
        known = sorted(profiles)
        raise ConfigError(
            f"no fault profile {profile!r} in suite {suite.name}{did_you_mean(profile, known)}",
            hint="profiles (suite.yaml faults: profiles:): " + (", ".join(known) or "none"),
        )
    chosen = profiles[profile].scenarios
    clean = [c for c in cases if not chosen or c.scenario in chosen]
    if not clean:
        raise ConfigError(
            f"fault profile {profile!r} applies to no selected case",
            hint="its scenarios: " + ", ".join(chosen),
        )
    return clean + [faulted(suite, c, profile) for c in clean]


def profile_scope(
    suite: Suite, cases: Iterable[Case], profile: str | None
) -> tuple[list[str], list[str]]:
    """The scenarios of `cases` (the run's selection) a profile plays, and those it does not
    play (a profile with `scenarios:` leaves them out of the run), in the suite's order."""
    if profile is None or profile not in suite.manifest.faults.profiles:
        return [], []
    chosen = suite.manifest.faults.profiles[profile].scenarios
    selected = {c.scenario for c in cases}
    ordered = [s.id for s in suite.scenarios if s.id in selected]
    played = [s for s in ordered if not chosen or s in chosen]
    return played, [s for s in ordered if s not in played]


SAID = 8  # scenarios the run header names of those a profile leaves out, at most


def scope_note(profile: str, played: list[str], unplayed: list[str]) -> str:
    """What the run header says of a profile's scope."""
    said = f"fault profile {profile} plays scenario(s) {', '.join(played)}"
    said += ", each case clean and faulted"
    if unplayed:
        names = ", ".join(unplayed[:SAID])
        if len(unplayed) > SAID:  # the manifest's fault_unplayed lists them all
            names = f"{len(unplayed)} scenarios ({names}, ...; the manifest lists them)"
        said += f"; not played in this run: {names} (the profile's scenarios: leaves them out)"
    return said


def phases(todo: list[tuple[Case, int]]) -> list[list[tuple[Case, int]]]:
    """The pairs to play as blocks that never run side by side: consecutive pairs of the same
    kind (clean or faulted) and trial form one block, so a `--faults` run alternates clean,
    faulted, clean, ... (trial by trial); a run without a profile is one block."""
    blocks: list[list[tuple[Case, int]]] = []
    key: tuple[bool, int] | None = None
    for case, trial in sorted(todo, key=lambda p: (p[1], p[0].fault is not None)):
        here = (case.fault is not None, trial)
        if not blocks or (key is not None and key[0] != here[0]):
            blocks.append([])
        key = here
        blocks[-1].append((case, trial))
    return blocks


def links_for(suite: Suite, faulted: Collection[str]) -> tuple[str, ...]:
    """The links to proxy, in a stable order: each must be a dependency of the suite (a
    `ConfigError` naming the dependencies otherwise; `harness validate` says where)."""
    deps = suite.manifest.environment.dependencies
    unknown = sorted(set(faulted) - set(deps))
    if unknown:
        raise ConfigError(
            f"a fault names link {unknown[0]!r}, which is not a dependency of suite {suite.name}",
            hint="dependencies: " + (", ".join(sorted(deps)) or "none"),
        )
    return tuple(sorted(set(faulted)))


def link_seed(seed: int, link: str) -> int:
    """A link proxy's seed: the run's seed and the link's name."""
    return derive_seed("fault-link", seed, link)


async def start_proxies(
    links: Collection[str],
    endpoints: Mapping[str, Endpoint],
    seed: int,
    stack: AsyncExitStack,
    emit: Emit,
) -> dict[str, LinkProxy]:
    """A proxy in front of each link's dependency, stopped when `stack` closes; the run
    header says which links are proxied and where."""
    proxies: dict[str, LinkProxy] = {}
    if links:
        from harness.faults import LinkProxy
    for name in sorted(links):
        endpoint = endpoints.get(name)
        if endpoint is None:  # links_for checked the names: a dependency that did not start
            raise ConfigError(f"fault link {name!r}: the dependency is not running")
        proxy = LinkProxy(endpoint.host, endpoint.port, name=name, seed=link_seed(seed, name))
        proxies[name] = await stack.enter_async_context(proxy)
    if proxies:
        said = ", ".join(f"{n} via proxy {p.host}:{p.port}" for n, p in proxies.items())
        emit(Note(f"faults: {said} (the harness's own connections go direct)"))
    return proxies


def proxied(endpoint: Endpoint, proxy: LinkProxy) -> Endpoint:
    """The endpoint the agent is told: the proxy's address in place of the dependency's (a
    published port equal to the proxied one follows it)."""
    ports = {k: (proxy.port if v == endpoint.port else v) for k, v in endpoint.ports.items()}
    return dataclasses.replace(endpoint, host=proxy.host, port=proxy.port, ports=ports)


def agent_context(
    endpoints: Mapping[str, Endpoint], proxies: Mapping[str, LinkProxy]
) -> dict[str, Any]:
    """`deps.*` for the agent: each proxied link's address is its proxy's."""
    return {
        name: (proxied(ep, proxies[name]) if name in proxies else ep).context()
        for name, ep in endpoints.items()
    }
