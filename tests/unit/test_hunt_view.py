"""The hunt's progress bar: the count of findings it shows is never behind what was found."""

from __future__ import annotations

from harness.cli.search import HuntView
from harness.core.events import HuntFound, HuntProgress


def _found_field(view: HuntView) -> int:
    assert view.progress is not None and view.task is not None
    return int(view.progress.tasks[0].fields["found"])


def test_a_finding_saved_after_the_last_case_shows_in_the_bar() -> None:
    view = HuntView(budget=10.0, show=True)
    try:
        view(HuntProgress(tried=3, found=0, seconds_left=4.0, scenario="loans"))
        assert _found_field(view) == 0
        assert view.progress is not None  # its first frame has every field: no empty "left"
        assert view.progress.tasks[0].fields["left"] == "4 s"
        # the hunt shrinks and saves the divergence after its last case: no progress follows
        view(HuntFound({"requirement": "LN-002", "check": "limit", "tried": 3}))
        assert _found_field(view) == 1
        # a late progress event counted before the finding never takes the bar back
        view(HuntProgress(tried=4, found=0, seconds_left=3.0, scenario="loans"))
        assert _found_field(view) == 1
        view(HuntProgress(tried=5, found=2, seconds_left=2.0, scenario="loans"))
        assert _found_field(view) == 2
    finally:
        view.stop()


def test_without_a_bar_a_finding_is_still_counted() -> None:
    view = HuntView(budget=10.0, show=False)
    view(HuntFound({"requirement": "LN-002", "check": "limit", "tried": 1}))
    assert view.found == 1 and view.progress is None
