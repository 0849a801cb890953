"""Every value generator kind, defined once as a search space.

A kind turns its model (and the values drawn before it) into a `Space`: a small
description of what it can give, simplest first. Two interpreters read a space:
the seeded draw of `harness run` (`draw`, here) and the hypothesis strategy of
`harness hunt` (`generate/strategies.py`, the only module that imports hypothesis),
so a run and a hunt never disagree about what a generator gives, and a hunt's
shrinking (toward the start of a list, the low end of a range) reaches the simplest
value a run could draw.

Adding a generator kind: its model in `spec/models/values.py` (and the `ValueSpec`
union), and one `@kind` definition here; nothing else.

Reproducibility: the seeded draw makes the same random calls in the same order as
long as a kind's space keeps its shape, so a saved seed replays the same case.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar, assert_never

from harness.generate import traps
from harness.spec import models as m
from harness.spec.clock import holiday_text, parse_duration
from harness.spec.relative import DateEdge, DaysAgo, DstMoment, Moment, TimeEdge
from harness.spec.template import Template, format_value, render_deep, to_decimal

# ------------------------------------------------------------------------ spaces


@dataclass(frozen=True, slots=True)
class Just:
    """One value; nothing to choose."""

    value: Any


@dataclass(frozen=True, slots=True)
class Sampled:
    """One of a list, simplest first: seeded `rng.choice`; a hunt shrinks toward the start."""

    options: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Weighted:
    """One of a list by weight (seeded `rng.choices`); a hunt tries every option alike."""

    options: Sequence[Any]
    weights: Sequence[float] | None


@dataclass(frozen=True, slots=True)
class Integers:
    """A whole number from lo to hi inclusive: seeded `rng.randint`; a hunt shrinks toward lo."""

    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class Tuple:
    """Several spaces, drawn in order."""

    parts: tuple[Space, ...]


@dataclass(frozen=True, slots=True)
class Map:
    """A space's value passed through a function: rendering, formatting, wrapping."""

    space: Space
    fn: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Filler:
    """Realistic filler, not searched: a hunt draws it with the example's own seeded filler,
    so every example has people of its own (see strategies.py)."""

    space: Space


Space = Just | Sampled | Weighted | Integers | Tuple | Map | Filler


def draw(space: Space, rng: random.Random) -> Any:
    """The seeded value of a space: one random call per choice, in the order of the space."""
    match space:
        case Just(value):
            return value
        case Sampled(options):
            return rng.choice(options)
        case Weighted(options, weights):
            return rng.choices(options, weights=weights)[0]
        case Integers(lo, hi):
            return rng.randint(lo, hi)
        case Tuple(parts):
            return tuple(draw(part, rng) for part in parts)
        case Map(inner, fn):
            return fn(draw(inner, rng))
        case Filler(inner):
            return draw(inner, rng)
        case _:
            assert_never(space)


# ------------------------------------------------------------------------ the registry

Fake = Callable[[str, str, list[Any], dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Env:
    """What a kind's space may depend on: the values drawn before it and who draws it."""

    context: Mapping[str, Any]  # params, vars and rows drawn so far
    kinds: Mapping[str, str | None]  # each spec parameter's kind (amount, days, ...)
    locales: Sequence[str]  # faker locales when a spec names none
    fake: Fake  # (provider, locale, args, kwargs) -> a faker value, seeded per call
    templates: dict[str, Template]
    plain: bool = False  # the hunt's baseline: hard kinds give plain values
    n: int = 0  # the case's (or seed row's) number, for sequences
    ref: Callable[[str], Any] | None = None  # table.column -> a seeded row's value

    def render(self, value: Any) -> Any:
        return render_deep(value, self.context, self.templates)

    def number(self, value: Any) -> Decimal:
        return to_decimal(self.render(value))

    def whole(self, value: Any) -> int:
        return int(self.number(value))


M = TypeVar("M", bound=m.Model)
Define = Callable[[M, Env], Space]


@dataclass(frozen=True, slots=True)
class Kind(Generic[M]):
    """One generator kind: its model, its space and whether it is a hard part."""

    model: type[M]
    space: Define[M]
    # a hard part: where defects hide. A hunt searches scenarios with one first, and plain
    # mode (`harness hunt --plain`, the baseline) gives plain values instead; only hard
    # kinds ever see `env.plain`.
    hard: bool


KINDS: dict[type[m.Model], Kind[Any]] = {}


def kind(model: type[M], *, hard: bool = False) -> Callable[[Define[M]], Define[M]]:
    """Register the one definition of a generator kind."""

    def register(define: Define[M]) -> Define[M]:
        if model in KINDS:
            raise ValueError(f"generator kind {model.__name__} is defined twice")
        KINDS[model] = Kind(model, define, hard)
        return define

    return register


def space(spec: Any, env: Env) -> Space:
    """The space of a value spec; a literal (or a template) is a space of itself."""
    found = KINDS.get(type(spec))
    if found is None:
        return Just(spec)
    if env.plain and not found.hard:
        env = dataclasses.replace(env, plain=False)
    return found.space(spec, env)


def is_generator(spec: Any) -> bool:
    """Generators are models; anything else in a value position is a literal or a template."""
    return type(spec) in KINDS


def is_searched(spec: Any) -> bool:
    """A generator a hunt varies: any but a faker value without `locales`, which is filler
    (fresh for each example, never searched: `_faker`), and a sequence or a seed data
    reference, one value each."""
    if isinstance(spec, m.FakerGen):
        return bool(spec.locales)
    return is_generator(spec) and not isinstance(spec, (m.SequenceGen, m.RefGen))


def is_hard(spec: Any) -> bool:
    """A boundary, format, trap, pool, date or time edge or DST change: where defects hide."""
    found = KINDS.get(type(spec))
    return found is not None and found.hard


# ------------------------------------------------------------------------ the kinds


@kind(m.FakerGen)
def _faker(spec: m.FakerGen, env: Env) -> Space:
    """Filler, unless the spec lists locales: then the locale is searched (the value is not)."""
    args, kwargs = env.render(spec.args), env.render(spec.kwargs)
    locale = Just(spec.locale) if spec.locale else Sampled(spec.locales or env.locales)
    value = Map(locale, lambda loc: env.fake(spec.faker, loc, args, kwargs))
    return value if spec.locales else Filler(value)


@kind(m.ChoiceGen)
def _choice(spec: m.ChoiceGen, env: Env) -> Space:
    return Map(Weighted(spec.choice, spec.weights), env.render)


@kind(m.IntegerGen)
def _integer(spec: m.IntegerGen, env: Env) -> Space:
    a, b = (env.whole(v) for v in spec.integer)
    return Integers(min(a, b), max(a, b))


def decimal_steps(bounds: tuple[Decimal, Decimal], places: int) -> tuple[int, int, Decimal]:
    """A decimal range as whole steps of its smallest unit, so every value is exact."""
    lo, hi = bounds
    quantum = Decimal(1).scaleb(-places)
    return int(min(lo, hi) / quantum), int(max(lo, hi) / quantum), quantum


@kind(m.DecimalGen)
def _decimal(spec: m.DecimalGen, env: Env) -> Space:
    bounds = (env.number(spec.decimal[0]), env.number(spec.decimal[1]))
    lo, hi, quantum = decimal_steps(bounds, spec.places)
    return Map(Integers(lo, hi), lambda k: (k * quantum).quantize(quantum))


@kind(m.DaysAgoGen)
def _days_ago(spec: m.DaysAgoGen, env: Env) -> Space:
    if isinstance(spec.days_ago, list):
        a, b = (env.whole(v) for v in spec.days_ago)
        return Map(Integers(min(a, b), max(a, b)), DaysAgo)
    return Just(DaysAgo(env.whole(spec.days_ago)))


@kind(m.RefGen)
def _ref(spec: m.RefGen, env: Env) -> Space:
    if env.ref is None:
        raise ValueError("ref values exist only in seed data")
    return Map(Just(spec.ref), env.ref)


@kind(m.SequenceGen)
def _sequence(spec: m.SequenceGen, env: Env) -> Space:
    return Just(spec.sequence.format(n=env.n))


@kind(m.BoundaryGen, hard=True)
def _boundary(spec: m.BoundaryGen, env: Env) -> Space:
    value = env.context["params"][spec.boundary]
    param_kind = env.kinds.get(spec.boundary)
    if param_kind == "duration":
        return _duration_boundary(spec, parse_duration(value), env.plain)
    if not env.plain:
        return Sampled(traps.boundary_values(spec, value, param_kind))
    # the baseline: any value of the parameter's unit between zero and twice the parameter
    unit = traps.boundary_step(spec, value, param_kind)
    top = abs(to_decimal(value)) * 2 or Decimal(100)
    return Map(Integers(0, int(top / unit)), lambda k: k * unit)


@kind(m.FormatGen, hard=True)
def _amount_text(spec: m.FormatGen, env: Env) -> Space:
    number = env.render(spec.amount_text)
    formats = Just("point") if env.plain else Sampled(spec.formats)
    return Map(formats, lambda fmt: traps.format_amount(number, fmt, spec.places))


@kind(m.TrapGen, hard=True)
def _text_trap(spec: m.TrapGen, env: Env) -> Space:
    text = format_value(env.render(spec.text_trap))
    trap = Just("none") if env.plain else Sampled(spec.traps)
    return Map(trap, lambda name: traps.apply_trap(text, name))


@kind(m.PoolGen, hard=True)
def _pool(spec: m.PoolGen, env: Env) -> Space:
    if not env.plain:
        return Sampled(traps.POOLS[spec.pool])
    # the baseline: a plain faker name or sentence instead of the pool's hard ones
    provider = "name" if spec.pool.startswith("names") else "sentence"
    return Map(Just(provider), lambda p: str(env.fake(p, "en_US", [], {})))


def _as_list(value: str | list[Any]) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


@kind(m.DateEdgeGen, hard=True)
def _date_edge(spec: m.DateEdgeGen, env: Env) -> Space:
    return Map(Just("today") if env.plain else Sampled(_as_list(spec.date_edge)), DateEdge)


@kind(m.TimeEdgeGen, hard=True)
def _time_edge(spec: m.TimeEdgeGen, env: Env) -> Space:
    edge = Just("noon") if env.plain else Sampled(_as_list(spec.time_edge))
    parts = Tuple((edge, Sampled(_as_list(spec.timezones))))
    return Map(parts, lambda t: TimeEdge(t[0], t[1], spec.days_ago))


@kind(m.DateTextGen, hard=True)
def _date_text(spec: m.DateTextGen, env: Env) -> Space:
    day = env.render(spec.date_text)
    formats = Just("iso") if env.plain else Sampled(spec.formats)
    return Map(formats, lambda fmt: traps.format_date(day, fmt))


def _seconds(span: Any, env: Env) -> Space:
    """A duration, or a range of them (a list) to the second: a hunt shrinks toward the first."""
    if isinstance(span, list):
        a, b = (int(parse_duration(env.render(v)).total_seconds()) for v in span)
        if a > b:  # written ranges are refused when the suite loads; these came from templates
            raise ValueError(f"the range {span} is [{a}s, {b}s]: reversed, write the shorter first")
        return Map(Integers(a, b), lambda s: dt.timedelta(seconds=s))
    return Just(parse_duration(env.render(span)))


def _duration_boundary(spec: m.BoundaryGen, window: dt.timedelta, plain: bool) -> Space:
    """Just inside and just outside a window, by the margin; plain: any length up to twice it,
    to the second (the baseline rarely lands within a margin of the edge)."""
    if not plain:
        return Sampled(traps.duration_boundaries(spec, window))
    top = max(int(abs(window).total_seconds()) * 2, 1)
    return Map(Integers(0, top), lambda s: dt.timedelta(seconds=s))


@kind(m.DurationGen)
def _duration(spec: m.DurationGen, env: Env) -> Space:
    return _seconds(spec.duration, env)


def moment(spec: m.MomentGen, offset: dt.timedelta) -> Moment:
    """The moment `offset` from now that the generator's other settings describe."""
    align = parse_duration(spec.align) if spec.align else None
    holidays = tuple(holiday_text(d) for d in spec.holidays)
    return Moment(offset, spec.timezone, spec.at, align, spec.business_days, holidays)


@kind(m.MomentGen)
def _moment(spec: m.MomentGen, env: Env) -> Space:
    return Map(_seconds(spec.in_, env), lambda offset: moment(spec, offset))


@kind(m.DstGen, hard=True)
def _dst(spec: m.DstGen, env: Env) -> Space:
    edge = Just("noon") if env.plain else Sampled(_as_list(spec.dst))
    parts = Tuple((edge, Sampled(_as_list(spec.timezones))))
    return Map(parts, lambda t: DstMoment(t[0], t[1], spec.which))
