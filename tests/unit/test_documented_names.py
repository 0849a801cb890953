"""Every HARNESS_* variable the harness names to a person (in a hint, a help text, a
docstring) is one it reads or one the README documents, so no message sends anyone to a
variable that does not exist."""

from __future__ import annotations

import ast
import re

from tests.helpers import ROOT

NAME = re.compile(r"HARNESS_[A-Z][A-Z0-9_]*")


def _texts() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append((str(path.relative_to(ROOT)), node.lineno, node.value))
    return out


def test_every_variable_a_message_names_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(NAME.findall(readme))
    families = {n.removesuffix("<NAME>") for n in re.findall(r"HARNESS_[A-Z_]+<NAME>", readme)}
    texts = _texts()
    read = {t for _, _, t in texts if NAME.fullmatch(t)}  # os.environ.get("HARNESS_X") & co
    unknown = [
        f"{path}:{line}: {name}"
        for path, line, text in texts
        for name in NAME.findall(text)
        if name not in documented | read and not name.startswith(tuple(families))
    ]
    assert families, "the README documents HARNESS_IMAGE_<NAME> and HARNESS_EXTERNAL_<NAME>"
    assert not unknown, "variables named that nobody reads or documents:\n" + "\n".join(unknown)
