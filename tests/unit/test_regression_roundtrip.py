"""Every case a hunt can save loads back and replays the same inputs, for every generator
kind (taken from the registry: a kind added without a strategy here fails) and every value
shape: the value itself, a field of a choice of mappings, an item of a list, a setup value,
a metamorphic variant's rows. The case is drawn the way a hunt draws it (draw_case),
saved by regressions.save, and read back through the suite loader."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core import Case, CaseResult, CheckResult, Observation, TurnRecord, Verdict
from harness.generate import spaces, traps
from harness.generate.strategies import draw_case
from harness.run import regressions
from harness.spec import models as m
from harness.spec.suite import load_suite

ZONES = ["UTC", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati"]
#: faker providers of every shape a faker value takes (text, numbers, dates and times,
#: decimals, bytes, lists and mappings of mixed values)
PROVIDERS = [
    ("name", [], {}),
    ("email", [], {}),
    ("numerify", ["####"], {}),
    ("pyint", [], {}),
    ("pyfloat", [], {}),
    ("pydecimal", [], {"left_digits": 4, "right_digits": 2}),
    ("pybool", [], {}),
    ("date_object", [], {}),
    ("date_time", [], {}),
    ("time_object", [], {}),
    ("uuid4", [], {}),
    ("binary", [8], {}),
    ("pylist", [3], {}),
    ("pydict", [3], {}),
    ("paragraph", [], {}),
]
SIMPLE = st.one_of(
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
    st.text(max_size=30),
    st.floats(allow_nan=False, allow_infinity=False),
)
PLAIN_VALUES = st.recursive(
    SIMPLE,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _faker() -> st.SearchStrategy[Any]:
    return st.builds(
        lambda p, loc: m.FakerGen(faker=p[0], args=p[1], kwargs=p[2], **loc),
        st.sampled_from(PROVIDERS),
        st.sampled_from([{}, {"locale": "de_DE"}, {"locales": ["en_US", "vi_VN", "pl_PL"]}]),
    )


#: one strategy of specs per generator kind; None: a kind no hunt can save (with why)
SPECS: dict[type[m.Model], st.SearchStrategy[Any] | None] = {
    m.FakerGen: _faker(),
    m.ChoiceGen: st.builds(
        lambda opts: m.ChoiceGen(choice=opts),
        st.lists(PLAIN_VALUES, min_size=1, max_size=4)
        | st.just([{"said": "2pm", "hm": "14:00"}, {"said": "noon", "hm": "12:00"}])
        | st.just(["{{ params.limit }}", "{{ params.days }}"]),
    ),
    m.IntegerGen: st.builds(
        lambda a, b: m.IntegerGen(integer=[a, b]), st.integers(-1000, 1000), st.integers(-5, 5)
    )
    | st.just(m.IntegerGen(integer=["{{ params.days | sub(1) }}", "{{ params.days }}"])),
    m.DecimalGen: st.builds(
        lambda places: m.DecimalGen(decimal=["0", "{{ params.limit }}"], places=places),
        st.integers(0, 3),
    ),
    m.DaysAgoGen: st.integers(0, 400).map(lambda d: m.DaysAgoGen(days_ago=d))
    | st.just(m.DaysAgoGen(days_ago=[0, "{{ params.days }}"])),
    # seed data only: a case never holds one (spec/references.py refuses it elsewhere)
    m.RefGen: None,
    m.SequenceGen: st.just(m.SequenceGen(sequence="SKU-{n:05d}")),
    m.BoundaryGen: st.builds(
        lambda p, edges: m.BoundaryGen(boundary=p, edges=edges),
        st.sampled_from(["limit", "days", "window"]),
        st.lists(
            st.sampled_from(get_args(m.Edge)),
            min_size=1,
            unique=True,
        ),
    ),
    m.FormatGen: st.builds(
        lambda fmts: m.FormatGen(amount_text="{{ params.limit }}", formats=fmts),
        st.lists(
            st.sampled_from(get_args(m.AmountFormat)),
            min_size=1,
            unique=True,
        ),
    ),
    m.TrapGen: st.builds(
        lambda t: m.TrapGen(text_trap="{{ params.name }}", traps=t),
        st.lists(st.sampled_from(get_args(m.Trap)), min_size=1, unique=True),
    ),
    m.PoolGen: st.sampled_from(sorted(traps.POOLS)).map(lambda p: m.PoolGen(pool=p)),
    m.DateEdgeGen: st.lists(
        st.sampled_from(get_args(m.DateEdgeKind)),
        min_size=1,
        unique=True,
    ).map(lambda e: m.DateEdgeGen(date_edge=e)),
    m.TimeEdgeGen: st.builds(
        lambda e, z, d: m.TimeEdgeGen(time_edge=e, timezones=z, days_ago=d),
        st.lists(
            st.sampled_from(get_args(m.TimeEdgeKind)),
            min_size=1,
            unique=True,
        ),
        st.lists(st.sampled_from(ZONES), min_size=1, unique=True),
        st.integers(0, 3),
    ),
    m.DateTextGen: st.builds(
        lambda f, day: m.DateTextGen(date_text=day, formats=f),
        st.lists(
            st.sampled_from(get_args(m.DateFormat)),
            min_size=1,
            unique=True,
        ),
        st.sampled_from(["2024-02-29", "{{ other.since }}"]),
    ),
    m.DurationGen: st.sampled_from(["1h30m", "0s", "-2h", ["1h", "{{ params.window }}"]]).map(
        lambda d: m.DurationGen(duration=d)
    ),
    m.MomentGen: st.builds(
        lambda offset, zone, more: m.MomentGen.model_validate(
            {"in": offset, "timezone": zone, **more}
        ),
        st.sampled_from(["23h57m", "-2h", ["1h", "48h"], "{{ params.window }}"]),
        st.sampled_from(ZONES),
        st.sampled_from(
            [{}, {"at": "09:30"}, {"align": "15m"}, {"business_days": True, "holidays": ["12-25"]}]
        ),
    ),
    m.DstGen: st.builds(
        lambda e, z, w: m.DstGen(dst=e, timezones=z, which=w),
        st.lists(st.sampled_from(get_args(m.DstEdgeKind)), min_size=1, unique=True),
        st.lists(
            st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney"]),
            min_size=1,
            unique=True,
        ),
        st.sampled_from(["next", "previous"]),
    ),
}

SUITE = {
    "name": "roundtrip",
    "environment": {
        "dependencies": {"db": {"kind": "postgres", "schema": ["schema.sql"]}},
        "agent": {"python": {"callable": "tests.agents.echo:echo", "path": ["../../.."]}},
    },
}
SPEC = {
    "title": "Round trip",
    "version": "1",
    "parameters": {
        "limit": {"value": 500.00, "kind": "amount"},
        "days": {"value": 30, "kind": "days"},
        "window": {"value": "24h", "kind": "duration"},
        "name": {"value": "Zoë Ðurić", "kind": "text"},
    },
    "requirements": [{"id": "RT-1", "title": "t", "severity": "major", "text": "t"}],
}


def _dump(spec: Any) -> Any:
    return spec.model_dump(by_alias=True, exclude_unset=True)


def scenario(spec: Any) -> dict[str, Any]:
    """The generated value in every shape a case holds values in."""
    return {
        "id": "shapes",
        "title": "Every shape",
        "vars": {
            "x": _dump(spec),
            "pair": {
                "choice": [
                    {"said": "{{ vars.x }}", "hm": "14:00", "both": ["{{ vars.x }}", 2]},
                    {"said": "two", "hm": {"at": "{{ vars.x }}"}, "both": []},
                ]
            },
        },
        "setup": {
            "other": {"table": "things", "values": {"since": {"days_ago": 3}}},
            "row": {"table": "things", "values": {"value": _dump(spec), "copy": "{{ vars.x }}"}},
        },
        "turns": ["{{ vars.pair.said }} {{ vars.x }}"],
        "variants": [["again {{ vars.x }}"]],
        "checks": [{"type": "same_state", "requirements": ["RT-1"], "query": "select 1"}],
    }


def write_suite(root: Path, spec: Any) -> None:
    (root / "scenarios").mkdir(parents=True, exist_ok=True)
    (root / "schema.sql").write_text("create table things (id serial primary key);\n")
    (root / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    (root / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    body = {"scenarios": [scenario(spec)]}
    (root / "scenarios" / "shapes.yaml").write_text(yaml.safe_dump(body, allow_unicode=True))


def result_of(case: Case) -> tuple[CaseResult, CheckResult]:
    check = CheckResult(
        check_id="same_state-1",
        check_type="same_state",
        category="state",
        requirements=("RT-1",),
        verdict=Verdict.FAIL,
        message="the rewording changed the outcome",
    )
    obs = Observation(session_id="h-1", turns=[TurnRecord(index=1, text="t", reply="r")])
    return CaseResult(case=case, trial=1, observation=obs, checks=[check]), check


NUMBERS = itertools.count()


def test_every_generator_kind_has_a_strategy_here() -> None:
    """A kind added to the registry must be added here too, with its values' shapes."""
    missing = [k.__name__ for k in spaces.KINDS if k not in SPECS]
    assert not missing, f"add a strategy for {missing} to SPECS (or None, saying why)"


@pytest.mark.parametrize(
    "kind", [k for k, s in SPECS.items() if s is not None], ids=lambda k: k.__name__
)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_saved_case_loads_back_with_the_same_inputs(kind: type[m.Model], data: Any) -> None:
    strategy = SPECS[kind]
    assert strategy is not None
    spec = data.draw(strategy, label="spec")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "roundtrip"
        write_suite(root, spec)
        suite = load_suite(root)
        case, _ = draw_case(data, suite, suite.scenarios[0], next(NUMBERS))
        result, check = result_of(case)
        path = regressions.save(suite, result, check, run_id="r1", tried=1, shrunk=True)
        again = load_suite(root)
        saved = regressions.known(again)
        assert not saved.unreadable, [str(p) for p in saved.unreadable]
        (loaded,) = saved.cases
        text = path.read_text()
        assert loaded.vars == case.vars, text
        assert loaded.setup == case.setup, text
        assert loaded.variant_setups == case.variant_setups, text
        assert (loaded.seed, loaded.persona, loaded.persona_seed) == (
            case.seed,
            case.persona,
            case.persona_seed,
        )
        # the same types, not only equal values (a decimal is no float, a date no text)
        assert _types(loaded.vars) == _types(case.vars), text
        assert _types(loaded.setup) == _types(case.setup), text


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_types(v) for v in value]
    return type(value).__name__


def test_a_var_made_with_days_ago_stays_relative_in_a_saved_case(tmp_path: Path) -> None:
    """`{{ ... | days_ago }}` is a relative date, as `{days_ago: N}` is: a saved case whose
    var and setup value both count days back from its run means the same days when it is
    replayed on a later day (a var frozen to the day it was found, beside a setup value
    made afresh, made a fixed agent fail the day after)."""
    from harness.run.plan import plan
    from harness.spec.relative import DateText, DaysAgo

    root = tmp_path / "roundtrip"
    write_suite(root, m.IntegerGen(integer=(1, 2)))
    body = {
        "scenarios": [
            {
                "id": "dob",
                "title": "A birth date a day later than the real one",
                "vars": {
                    "age_days": {"integer": [7000, 7000]},
                    "wrong_born": "{{ vars.age_days | sub(1) | days_ago }}",
                    "said": {"date_text": "{{ vars.wrong_born }}", "formats": ["dotted"]},
                },
                "setup": {
                    "row": {"table": "things", "values": {"born": "{{ vars.age_days | days_ago }}"}}
                },
                "turns": ["I was born on {{ vars.said }}"],
                "checks": [{"type": "not_contains", "requirements": ["RT-1"], "value": "verified"}],
            }
        ]
    }
    (root / "scenarios" / "shapes.yaml").write_text(yaml.safe_dump(body))
    suite = load_suite(root)
    case = next(iter(plan(suite, 1)))
    assert case.vars["wrong_born"] == DaysAgo(6999)
    assert isinstance(case.vars["said"], DateText) and case.vars["said"].day == DaysAgo(6999)
    check = CheckResult(
        check_id="not_contains-1", check_type="not_contains", category="output",
        requirements=("RT-1",), verdict=Verdict.FAIL, message="the reply contains 'verified'",
    )  # fmt: skip
    obs = Observation(session_id="h-1", turns=[TurnRecord(index=1, text="t", reply="verified")])
    result = CaseResult(case=case, trial=1, observation=obs, checks=[check])
    path = regressions.save(suite, result, check, run_id="r1", tried=1, shrunk=True)
    text = path.read_text()
    assert "wrong_born: relative" in text and "said: relative" in text, text
    (loaded,) = regressions.known(load_suite(root)).cases
    assert loaded.vars == case.vars and loaded.setup == case.setup, text
