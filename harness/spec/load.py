"""Load profiles, the `load:` section of suite.yaml: shapes of users over time, bounded.

A profile says how many simulated users talk to the agent at each moment, which
scenarios they play and how often a case is sent twice at once (a duplicate:
where races live). Built-in shapes (`ramp`, `spike`, `soak`) and custom `stages`
all expand to one schedule of stages, so the load generator (a locust
LoadTestShape) and the reports read the same thing. Every profile ends: its
stages add up to a finite duration and `limit` caps it further.
"""

import fnmatch
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.empty import empty_dict, empty_list
from harness.errors import Problem
from harness.faults.toxics import Toxic
from harness.spec.loader import PathKey, Source, did_you_mean
from harness.spec.toxics import LinkFault

MAX_USERS = 10_000
MAX_SECONDS = 7 * 24 * 3600.0  # a soak may run for days, never forever
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text like '90', '90s', '5m', '1.5h', '500ms'."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; use e.g. 30, 30s, 5m or 1h")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration; use e.g. 30, 30s, 5m or 1h")
    return float(m.group(1)) * _UNITS[m.group(2)]


# json_schema_input_type: the published schema accepts what files say ("3s", 0.2), not
# only what the validators make of it
Seconds = Annotated[
    float,
    BeforeValidator(parse_duration, json_schema_input_type=float | str),
    Field(gt=0, le=MAX_SECONDS),
]
Users = Annotated[int, Field(ge=0, le=MAX_USERS)]
SpawnRate = Annotated[float, Field(gt=0, le=10_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LoadFault(LinkFault):
    """A fault window on the load's timeline: one toxic on one link (a dependency the agent
    reaches) from `at` seconds after the load starts, for `for` seconds. The toxic's fields
    are a scenario fault's (spec/models/faults.py), with Toxiproxy's names and units."""

    at: Annotated[
        float,
        BeforeValidator(parse_duration, json_schema_input_type=float | str),
        Field(ge=0, le=MAX_SECONDS),
    ] = Field(description="When it starts, seconds after the load starts (5s, 1m).")
    for_: Seconds = Field(alias="for", description="How long it lasts (3s, 500ms).")

    @property
    def end(self) -> float:
        return self.at + self.for_

    def window_toxic(self, index: int) -> Toxic:
        """The toxic of the profile's `index`-th window (0-based): its name is unique on the
        link, so windows that overlap never clash and each draws its own connections."""
        return self.as_toxic(f"load{index + 1}_{self.toxic}_{self.stream}")


class Duplicates(_Model):
    """Cases sent as two identical conversations at once, on the same setup rows."""

    share: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.2, description="Share of cases sent twice at once (0 to 1)."
    )
    session: Literal["separate", "same"] = Field(
        default="separate",
        description="separate: the same customer in two sessions (two tabs); same: one session, "
        "as a client retrying on a timeout does.",
    )
    stagger: Annotated[
        float,
        BeforeValidator(parse_duration, json_schema_input_type=float | str),
        Field(ge=0, le=60),
    ] = Field(
        default=0.0,
        description="Seconds the second copy of each turn waits after the first (0: at once).",
    )


def _duplicates(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"share": value}
    return value


def _wait(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and value[0] > value[1]:
        raise ValueError("wait [min, max] needs min <= max")
    return value


@dataclass(frozen=True)
class Stage:
    """`users` from `start` to `end` seconds, reached at `spawn_rate` users per second."""

    start: float
    end: float
    users: int
    spawn_rate: float


class ProfileBase(_Model):
    limit: Seconds | None = Field(
        default=None,
        description="Hard cap on the load phase in seconds or '5m'; default: the shape's length.",
    )
    scenarios: list[str] = Field(
        default_factory=empty_list,
        description="Scenario id globs to drive; default: every scenario without variants.",
    )
    duplicates: Annotated[
        Duplicates, BeforeValidator(_duplicates, json_schema_input_type=Duplicates | float)
    ] = Field(
        default_factory=Duplicates,
        description="A share (0..1) of cases sent as two identical concurrent conversations, "
        "or {share, session, stagger}.",
    )
    wait: Annotated[
        tuple[float, float],
        BeforeValidator(_wait, json_schema_input_type=float | tuple[float, float]),
    ] = Field(
        default=(0.0, 0.0),
        description="Seconds a user pauses between conversations: a number or [min, max].",
    )
    window: Seconds | None = Field(
        default=None, description="Length of a results window; default: about 1/30 of the run."
    )
    sample_every: Seconds = Field(
        default=5.0, description="Seconds between invariant checks over the whole database."
    )
    faults: Annotated[list[LoadFault], Field(max_length=100)] = Field(
        default_factory=empty_list,
        description="Fault windows on the load's timeline: [{link, toxic, at: 5s, for: 3s}]; "
        "the report shows pass rate and latency before, during and after each.",
    )

    @model_validator(mode="after")
    def _windows_inside(self) -> "ProfileBase":
        if self.faults:
            length = self.length
            for i, f in enumerate(self.faults):
                if f.end > length + 1e-9:
                    raise ValueError(
                        f"faults[{i}] ends at {f.end:g} s, after the profile's end ({length:g} s)"
                    )
        return self

    def stages(self) -> list[Stage]:  # pragma: no cover - every shape overrides it
        raise NotImplementedError

    @property
    def length(self) -> float:
        """Seconds the load phase lasts: the stages, cut at `limit`."""
        total = self.stages()[-1].end
        return min(total, self.limit) if self.limit is not None else total

    @property
    def peak(self) -> int:
        return max(s.users for s in self.stages())

    def window_seconds(self) -> float:
        if self.window is not None:
            return self.window
        raw = self.length / 30
        for nice in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
            if raw <= nice:
                return float(nice)
        return 900.0


def _rate(users: int, previous: int, given: float | None) -> float:
    """Default spawn rate: reach the stage's users within about a second."""
    return given if given is not None else float(max(1, abs(users - previous)))


class RampProfile(ProfileBase):
    shape: Literal["ramp"]
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] = Field(description="Users at the top step.")
    steps: Annotated[int, Field(ge=1, le=100)] = 5
    step: Seconds = Field(default=30.0, description="How long each step is held.")
    spawn_rate: SpawnRate | None = None

    def stages(self) -> list[Stage]:
        out: list[Stage] = []
        previous = 0
        for i in range(1, self.steps + 1):
            users = max(1, math.ceil(self.users * i / self.steps))
            start = (i - 1) * self.step
            out.append(Stage(start, i * self.step, users, _rate(users, previous, self.spawn_rate)))
            previous = users
        return out


class SpikeProfile(ProfileBase):
    shape: Literal["spike"]
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] = Field(description="Users before and after.")
    peak_users: Annotated[int, Field(ge=1, le=MAX_USERS)] = Field(
        alias="peak", description="Users during the burst."
    )
    before: Seconds = 10.0
    hold: Seconds = Field(default=10.0, description="How long the burst lasts.")
    after: Seconds = 10.0
    spawn_rate: SpawnRate | None = Field(
        default=None, description="Users per second into the burst; default: all at once."
    )

    @model_validator(mode="after")
    def _higher(self) -> "SpikeProfile":
        if self.peak_users <= self.users:
            raise ValueError(f"peak ({self.peak_users}) must be above users ({self.users})")
        return self

    def stages(self) -> list[Stage]:
        up = _rate(self.peak_users, self.users, self.spawn_rate)
        t1, t2 = self.before, self.before + self.hold
        return [
            Stage(0.0, t1, self.users, float(self.users)),
            Stage(t1, t2, self.peak_users, up),
            Stage(t2, t2 + self.after, self.users, float(self.peak_users)),
        ]


class SoakProfile(ProfileBase):
    shape: Literal["soak"]
    users: Annotated[int, Field(ge=1, le=MAX_USERS)]
    duration: Seconds
    spawn_rate: SpawnRate | None = None

    def stages(self) -> list[Stage]:
        return [Stage(0.0, self.duration, self.users, _rate(self.users, 0, self.spawn_rate))]


class StageSpec(_Model):
    duration: Seconds
    users: Users
    spawn_rate: SpawnRate | None = None


class StagesProfile(ProfileBase):
    shape: Literal["stages"]
    stage_list: Annotated[list[StageSpec], Field(min_length=1, max_length=1000)] = Field(
        alias="stages"
    )

    def stages(self) -> list[Stage]:
        out: list[Stage] = []
        start, previous = 0.0, 0
        for s in self.stage_list:
            rate = _rate(s.users, previous, s.spawn_rate)
            out.append(Stage(start, start + s.duration, s.users, rate))
            start, previous = start + s.duration, s.users
        return out


Profile = Annotated[
    RampProfile | SpikeProfile | SoakProfile | StagesProfile, Field(discriminator="shape")
]
SHAPES = ("ramp", "spike", "soak", "stages")


class LoadSection(_Model):
    profiles: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")], Profile] = Field(
        default_factory=empty_dict,
        description="Load profiles by name: harness load SUITE --profile NAME.",
    )


def users_at(stages: list[Stage], t: float, length: float) -> tuple[int, float] | None:
    """(users, spawn rate) the profile asks for at t seconds; None once it has ended."""
    if t >= length:
        return None
    for stage in stages:
        if t < stage.end:
            return stage.users, stage.spawn_rate
    return None


def drivable(scenario: Any) -> bool:
    """One scripted conversation per case: scenarios with metamorphic variants hold several,
    and a reactive user's answers depend on each reply, which the load generator does not
    read (a drift scenario is driven with its script, without filler)."""
    return not scenario.variants and getattr(scenario, "user", None) is None


def selected(profile: ProfileBase, scenarios: list[Any]) -> list[Any]:
    """The scenarios a profile drives, in file order."""
    if not profile.scenarios:
        return [s for s in scenarios if drivable(s)]
    return [
        s
        for s in scenarios
        if drivable(s) and any(fnmatch.fnmatchcase(s.id, p) for p in profile.scenarios)
    ]


def check_load(
    section: LoadSection | None,
    src: Source,
    scenarios: list[Any],
    dependencies: Collection[str] | None = None,
) -> Iterator[Problem]:
    """Every scenario pattern of every profile names a scenario it can drive; every fault
    window's link names a dependency of the suite (when they are given)."""
    if section is None:
        return
    ids = [s.id for s in scenarios]
    for name, profile in section.profiles.items():
        base: PathKey = ("load", "profiles", name)
        for j, fault in enumerate(profile.faults):
            if dependencies is not None and fault.link not in dependencies:
                known = ", ".join(sorted(dependencies)) or "none"
                yield src.problem(
                    (*base, "faults", j, "link"),
                    f"link {fault.link!r} is no dependency of the suite"
                    f"{did_you_mean(fault.link, list(dependencies))} (its dependencies: {known})",
                )
        for j, pattern in enumerate(profile.scenarios):
            matched = [s for s in scenarios if fnmatch.fnmatchcase(s.id, pattern)]
            if not matched:
                yield src.problem(
                    (*base, "scenarios", j),
                    f"{pattern!r} matches no scenario{did_you_mean(pattern, ids)}",
                )
            elif not any(drivable(s) for s in matched):
                yield src.problem(
                    (*base, "scenarios", j),
                    f"{pattern!r} matches only scenarios with variants (several conversations "
                    "per case) or a reactive user (answers that depend on each reply); a load "
                    "profile drives single scripted conversations",
                )
        if not profile.scenarios and not any(drivable(s) for s in scenarios):
            yield src.problem(
                base, "the suite has no scenario without variants or a reactive user to drive"
            )
