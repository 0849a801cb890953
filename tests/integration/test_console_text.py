"""What the console prints is the text as it is: rich would turn `:100:` into an emoji, in a
place (`echo.yaml:100:5`) as in an agent's reply (a reviewer's suite lost its error's line)."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.cli.common import err, out
from tests.helpers import ROOT, harness

ECHO = ROOT / "tests" / "suites" / "echo"


def test_a_suite_error_on_line_100_keeps_its_place(tmp_path: Path) -> None:
    suite = tmp_path / "echo"
    shutil.copytree(ECHO, suite)
    scenarios = suite / "scenarios" / "echo.yaml"
    text = scenarios.read_text(encoding="utf-8")
    padding = "".join(f"# line {i}\n" for i in range(1, 98))  # `title:` lands on line 100
    scenarios.write_text(padding + text.replace("    title: Echo", "    titel: Echo", 1))
    assert scenarios.read_text(encoding="utf-8").splitlines()[99].startswith("    titel:")
    done = harness("validate", str(suite))
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "echo.yaml:100:5: scenarios[0].titel: unknown key 'titel'" in said, said
    assert "\U0001f4af" not in said


def test_the_consoles_print_emoji_codes_as_written() -> None:
    for console in (err, out):
        with console.capture() as captured:
            console.print("oops :100: :smile: [bold]x[/bold]")
        assert captured.get().rstrip("\n") == "oops :100: :smile: x"
