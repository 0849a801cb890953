"""Faker's provider names as `harness validate` checks them: the same answer as faker's own,
kept per user so a later process checks names without importing faker, and rebuilt from
faker when the kept file is damaged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.spec import fakers
from tests.helpers import ROOT

CHECK = (
    "from harness.spec import fakers; import sys; "
    "print(fakers.provider_exists('email'), fakers.provider_exists('emial'), "
    "len(fakers.providers()), 'faker' in sys.modules)"
)


def _check(cache: Path) -> list[str]:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    return done.stdout.split()


def test_the_names_agree_with_fakers_own() -> None:
    fake = fakers.faker_for("en_US")
    assert fakers.provider_exists("email") and callable(fake.email)
    assert not fakers.provider_exists("emial")
    assert not fakers.provider_exists("_Faker__config")
    assert not fakers.provider_exists("seed")  # faker raises when it is touched
    names = fakers.providers()
    assert "seed_instance" not in names and "email" in names and names == sorted(names)
    assert set(names) == {n for n in fakers._from_faker("en_US") if not n.startswith("seed")}


def test_a_later_process_checks_names_without_importing_faker(tmp_path: Path) -> None:
    first = _check(tmp_path)
    assert first[:2] == ["True", "False"] and first[3] == "True"  # built from faker, then kept
    kept = list((tmp_path / "names").glob("faker-names-*.json"))
    assert len(kept) == 1 and "email" in json.loads(kept[0].read_text())
    assert kept[0].parent.stat().st_mode & 0o077 == 0
    second = _check(tmp_path)
    assert second[:3] == first[:3] and second[3] == "False"


def test_a_damaged_file_is_rebuilt_from_faker(tmp_path: Path) -> None:
    _check(tmp_path)
    (kept,) = (tmp_path / "names").glob("faker-names-*.json")
    kept.write_text('["only_this"')  # cut short
    again = _check(tmp_path)
    assert again[:2] == ["True", "False"] and again[3] == "True"
    assert "email" in json.loads(kept.read_text())


def test_a_folder_others_may_write_to_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "names").mkdir(mode=0o777)
    (tmp_path / "names").chmod(0o777)
    assert _check(tmp_path)[:2] == ["True", "False"]
    assert not list((tmp_path / "names").glob("faker-names-*.json"))
