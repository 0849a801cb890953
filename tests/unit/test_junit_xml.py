"""The JUnit writer's serializer: byte for byte what ElementTree's `indent` then `tostring`
write, on any tree of the shape the reports build, and on the demo run's JUnit."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.junit import _details, serialize

# text as an agent may send it: markup, quotes, line breaks, tabs, non-ASCII, lone surrogates
TEXT = st.text(alphabet=st.sampled_from([*"ab <>&\"'\r\n\t é€😀", "\ud800"]), max_size=12)
TAGS = st.sampled_from(["testsuites", "testsuite", "testcase", "failure", "property"])


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> ET.Element:
    elem = ET.Element(draw(TAGS))
    for key in draw(st.lists(st.sampled_from(["name", "message", "type", "time"]), unique=True)):
        elem.set(key, draw(TEXT))
    children = draw(st.integers(0, 0 if depth >= 3 else 3))
    for _ in range(children):
        child = draw(trees(depth + 1))
        child.tail = draw(st.one_of(st.none(), st.just(""), st.just("  "), TEXT))
        elem.append(child)
    elem.text = draw(st.one_of(st.none(), st.just(""), st.just(" \n"), TEXT))
    return elem


def _elementtree(root: ET.Element) -> bytes:
    root = copy.deepcopy(root)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


@settings(max_examples=400, deadline=None)
@given(trees())
def test_serialize_writes_what_elementtree_writes(root: ET.Element) -> None:
    assert serialize(root) == _elementtree(root)


def test_serialize_escapes_what_an_agent_sent() -> None:
    root = ET.Element("testsuite", name='a"b<c>&\nd')
    failure = ET.SubElement(ET.SubElement(root, "testcase"), "failure", message="x")
    failure.text = "</failure><script>alert(1)</script> & more"
    written = serialize(root).decode()
    assert 'name="a&quot;b&lt;c&gt;&amp;&#10;d"' in written
    assert "&lt;/failure&gt;&lt;script&gt;" in written and "<script>" not in written
    assert written == _elementtree(root).decode()


def test_a_checks_failure_text_says_the_recovery_probes_it_leaves_out() -> None:
    """As summary.md does: the probes are shown with the recovery check only."""
    turns = [
        {"index": 1, "text": "refund order 7", "reply": "done"},
        {"index": 2, "text": "status?", "reply": "down", "source": "recovery"},
        {"index": 3, "text": "status?", "reply": "up", "source": "recovery"},
    ]
    row = {
        "requirements": "R-1", "session_id": "s", "case_error": None, "turns": turns,
        "expected": "refunded", "found": "done", "check_type": "contains",
    }  # fmt: skip
    text = _details(row)
    assert "turn 1 agent: done" in text and "turn 2" not in text.split("(then")[0]
    assert "(then 2 recovery probe(s), turns 2-3, shown with the recovery check" in text
    recovery = _details({**row, "check_type": "recovery"})
    assert "turn 3 agent: up" in recovery and "recovery probe(s)" not in recovery


def test_a_forbidden_text_is_not_called_expected() -> None:
    """As summary.md labels it: a not_contains check's value is what must not appear."""
    row = {
        "requirements": "R-1", "session_id": "s", "case_error": None, "turns": [],
        "expected": "has been issued", "found": "it has been issued", "check_type": "not_contains",
    }  # fmt: skip
    text = _details(row)
    assert 'must not contain: "has been issued"' in text and "expected:" not in text
    assert 'must not match: "x"' in _details({**row, "check_type": "not_regex", "expected": "x"})
    assert 'expected: "x"' in _details({**row, "check_type": "contains", "expected": "x"})
