"""The toxic model (Toxiproxy's names, defaults and bounds) and the pure parts of the toxics:
who a toxicity hits, latency's draw, the slicer's cuts."""

from __future__ import annotations

import itertools
import random

import pytest
from pydantic import ValidationError

from harness.faults import ATTRIBUTES, Toxic, ToxicSample, affects
from harness.faults.toxics import latency_delay, slice_bounds


def test_a_toxic_reads_like_toxiproxys() -> None:
    toxic = Toxic.model_validate(
        {"kind": "latency", "stream": "upstream", "attributes": {"latency": 100}}
    )
    assert toxic.name == "latency_upstream"  # Toxiproxy's default name
    assert toxic.attributes == {"latency": 100, "jitter": 0}  # every attribute defaults to 0
    assert toxic.toxicity == 1.0 and toxic["latency"] == 100
    assert Toxic(kind="timeout").stream == "downstream"  # Toxiproxy's default stream
    assert Toxic(kind="down").attributes == {}
    named = Toxic(kind="reset_peer", name="db_reset", attributes={"timeout": 5})
    assert named.name == "db_reset"
    assert Toxic.model_validate(named.model_dump()) == named  # round-trips as data
    assert set(ATTRIBUTES) == {
        "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data",
        "down",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "latency", "attributes": {"delay": 1}}, "has no attribute 'delay'"),
        ({"kind": "latency", "attributes": {"latency": -1}}, "must be 0 to"),
        ({"kind": "bandwidth", "attributes": {"rate": 2**40}}, "must be 0 to"),
        ({"kind": "latency", "toxicity": 1.5}, "less than or equal to 1"),
        ({"kind": "latency", "stream": "sideways"}, "'upstream' or 'downstream'"),
        ({"kind": "jitter"}, "Input should be"),
        ({"kind": "slicer", "attributes": {"average_size": 0}}, "average_size >= 1"),
        (
            {"kind": "slicer", "attributes": {"average_size": 10, "size_variation": 10}},
            "size_variation below it",
        ),
        ({"kind": "down", "toxicity": 0.5}, "toxicity is always 1"),
        ({"kind": "latency", "colour": "red"}, "Extra inputs"),
    ],
)
def test_a_wrong_toxic_is_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Toxic.model_validate(data)


def test_a_toxic_is_frozen() -> None:
    toxic = Toxic(kind="latency")
    with pytest.raises(ValidationError):
        toxic.toxicity = 0.5  # type: ignore[misc]


def test_toxicity_is_a_pure_function_of_seed_name_and_connection() -> None:
    hits = [affects(3, "reset_peer_upstream", n, 0.5) for n in range(1, 1001)]
    assert hits == [affects(3, "reset_peer_upstream", n, 0.5) for n in range(1, 1001)]
    assert 400 < sum(hits) < 600
    assert hits != [affects(4, "reset_peer_upstream", n, 0.5) for n in range(1, 1001)]
    assert hits != [affects(3, "latency_upstream", n, 0.5) for n in range(1, 1001)]
    assert all(affects(3, "x", n, 1.0) for n in range(100))
    assert not any(affects(3, "x", n, 0.0) for n in range(100))
    assert 50 < sum(affects(9, "x", n, 0.1) for n in range(1000)) < 150


def test_a_sample_reports_its_observed_share() -> None:
    sample = ToxicSample("t", "latency", "downstream", 0.5, 1, (1, 2, 3, 4), (2, 3, 4))
    assert sample.share == 0.75
    assert ToxicSample("t", "latency", "downstream", 0.5, 1, (), ()).share is None


def test_latency_is_latency_plus_or_minus_jitter_never_negative() -> None:
    rng = random.Random(1)
    draws = [latency_delay(rng, 100, 20) for _ in range(2000)]
    assert min(draws) >= 0.080 and max(draws) < 0.120
    assert len(set(draws)) > 30
    assert latency_delay(rng, 50, 0) == 0.050
    assert all(latency_delay(rng, 10, 50) >= 0 for _ in range(200))


@pytest.mark.parametrize(
    ("size", "average", "variation"), [(1, 1, 0), (100, 10, 0), (1009, 100, 20), (65536, 7, 6)]
)
def test_the_slicer_cuts_everything_into_pieces_near_the_average(
    size: int, average: int, variation: int
) -> None:
    bounds = slice_bounds(random.Random(size), size, average, variation)
    pieces = [b - a for a, b in itertools.pairwise(bounds)]
    assert bounds[0] == 0 and bounds[-1] == size and sum(pieces) == size
    assert all(0 < p <= average + variation for p in pieces)
    assert slice_bounds(random.Random(size), size, average, variation) == bounds  # seeded


def test_the_slicer_splits_in_halves_like_toxiproxy() -> None:
    # 100 bytes at 10 with no variation: 50, 25, 12/13, 6/7 (Toxiproxy's `chunk`)
    bounds = slice_bounds(random.Random(0), 100, 10, 0)
    pieces = [b - a for a, b in itertools.pairwise(bounds)]
    assert pieces == [6, 6, 6, 7, 6, 6, 6, 7, 6, 6, 6, 7, 6, 6, 6, 7]
