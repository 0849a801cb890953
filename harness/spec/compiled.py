"""Templates compiled to one Python function each, for the path every case takes.

`Template.render` interprets its parts: for each expression a walk along its dotted path,
a type check and a membership test per step, then the filters. Rendered four times a case
on the echo suite (the turn, the request body's two fields, a check's value), that was
about 5 us of a case's time each, in the run (where the interpreter's code competes with the
HTTP client's for the CPU's caches). Most templates are plain dotted names into dicts
(`{{ case.session_id }}`, `hello {{ case.index }}`): such a template becomes a function that
looks its names up directly, as `dataclasses` compiles `__init__` (the source is built from
the template's own names, passed as string literals with `repr`, never from what it
renders). Anything else takes the interpreter, so a compiled template gives exactly its
value or error:

- a step into anything but a plain dict (a list index, a Mapping of another type, a missing
  name), or an expression with filters, hands the whole template back to the interpreter,
  which renders it again from the start (rendering reads the context and changes nothing)
  and gives the value, or the error naming the missing name, as it always did;
- values are formatted by the same `format_value`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

Render = Callable[[Mapping[str, Any]], Any]


class Expression(Protocol):
    """An expression of a template (`spec.template.Expr`)."""

    @property
    def path(self) -> tuple[str, ...]: ...
    @property
    def filters(self) -> tuple[Any, ...]: ...


def compile_parts(
    parts: Sequence[str | Expression], fmt: Callable[[Any], str], slow: Render
) -> Render | None:
    """A function rendering `parts` (text and expressions) as `slow` does, or None when an
    expression has filters (the interpreter alone renders those)."""
    exprs = [p for p in parts if not isinstance(p, str)]
    if not exprs or any(e.filters for e in exprs):
        return None
    lines = ["def render(c):"]
    pieces: list[str] = []
    for n, part in enumerate(parts):
        if isinstance(part, str):
            pieces.append(repr(part))
            continue
        value = "c"
        for i, name in enumerate(part.path):
            step = f"v{n}_{i}"
            lines.append(f"    if type({value}) is not dict or {name!r} not in {value}:")
            lines.append("        return slow(c)")
            lines.append(f"    {step} = {value}[{name!r}]")
            value = step
        pieces.append(value if len(parts) == 1 else f"fmt({value})")
    if len(parts) == 1:  # one expression alone keeps its value's type
        lines.append(f"    return {pieces[0]}")
    else:
        lines.append(f"    return {' + '.join(pieces)}")
    scope: dict[str, Any] = {"slow": slow, "fmt": fmt}
    exec("\n".join(lines), scope)  # the template's names as literals, nothing it renders
    render: Render = scope["render"]
    return render
