"""The self-contained HTML report: one file, no external assets, every agent text escaped.

Jinja2 autoescaping escapes everything placed in the page; the only script is
our own, allowed by a per-report nonce in a Content-Security-Policy that also
forbids any other script, so even a rendering bug could not run agent text.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

import orjson
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, select_autoescape
from jinja2.bccache import Bucket
from markupsafe import Markup, escape

from harness.report.reliability import interval, percent
from harness.report.view import ReportView, show

if TYPE_CHECKING:  # a load's, a drift's and a faulted run's parts: imported when they ran
    from harness.report.drift import DriftSummary
    from harness.report.faults import FaultsSummary
    from harness.report.load import LoadSummary


class _Cache(FileSystemBytecodeCache):
    """The templates compiled once per user, not once per process (a tenth of a second of
    every run's reports): Jinja's own per-user cache folder (mode 0700, its owner checked),
    keyed by each template's name and source; a cache file cut short is compiled again (by
    Jinja), one that cannot be written is passed over, never an error."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _cache() -> _Cache | None:
    try:
        return _Cache(pattern="__harness_%s.cache")
    except (OSError, RuntimeError):  # no safe folder of this user's: compile every time
        return None


_env = Environment(
    loader=PackageLoader("harness.report", "templates"),
    bytecode_cache=_cache(),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["show"] = show
_env.filters["percent"] = percent
_env.filters["interval"] = interval


def _value(value: Any) -> Markup:
    """Rows as a table, anything else as preformatted JSON; all of it escaped."""
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        cols: list[str] = []
        for r in value:
            cols.extend(c for c in r if c not in cols)
        head = "".join(f"<th>{escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_text(r.get(c)))}</td>" for c in cols) + "</tr>"
            for r in value
        )
        return Markup(f"<table><tr>{head}</tr>{body}</table>")
    if isinstance(value, list) and not value:
        return Markup('<p class="muted">(no rows)</p>')
    text = (
        value
        if isinstance(value, str)
        else orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    )
    return Markup(f"<pre>{escape(text)}</pre>")


def _text(v: Any) -> str:
    return show(v)


def render_template(name: str, **context: Any) -> str:
    """Any report template (sign-off, trend) with the shared filters, the escaped value
    renderer and a fresh script nonce."""
    template = _env.get_template(name)
    return template.render(value=_value, nonce=secrets.token_urlsafe(12), **context)


def render_html(
    view: ReportView,
    load: LoadSummary | None = None,
    drift: DriftSummary | None = None,
    faults: FaultsSummary | None = None,
) -> str:
    parts: dict[str, Any] = {"load": None, "drift": None, "faults": None}
    if load is not None:
        from harness.report.loadrender import html_context

        parts["load"] = html_context(load)
    if drift is not None:
        from harness.report.driftrender import html_context as drift_context

        parts["drift"] = drift_context(drift)
    if faults is not None:
        from harness.report.faultrender import html_context as faults_context

        parts["faults"] = faults_context(faults)
    template = _env.get_template("report.html.j2")
    return template.render(
        view=view, m=view.manifest, value=_value, nonce=secrets.token_urlsafe(12), **parts
    )
