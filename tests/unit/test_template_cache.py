"""The report templates' compiled code is cached per user: a second process loads it instead
of compiling, and a cache file cut short or garbled is compiled again, never an error."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader

from harness.report.html import _Cache, _env


def _render(cache: Path) -> str:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        bytecode_cache=_Cache(str(cache), pattern="__harness_%s.cache"),
    )
    env.filters.update(_env.filters)
    return (
        env.from_string("{{ 1 + 1 }} {{ x }}").render(x="y")
        + env.get_template("_faults.html.j2").name
    )


def test_templates_compile_once_and_a_damaged_cache_is_compiled_again(tmp_path: Path) -> None:
    first = _render(tmp_path)
    files = sorted(tmp_path.glob("__harness_*.cache"))
    assert files, "the compiled template was not cached"
    stamps = [f.stat().st_mtime_ns for f in files]
    assert _render(tmp_path) == first
    assert [f.stat().st_mtime_ns for f in files] == stamps  # loaded, not written again
    for f in files:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # the code cut short
    assert _render(tmp_path) == first
    for f in files:
        f.write_bytes(b"")
    assert _render(tmp_path) == first


def test_a_cache_folder_that_cannot_be_written_is_passed_over(tmp_path: Path) -> None:
    missing = tmp_path / "not-there" / "deeper"
    assert _render(missing).startswith("2 y")
