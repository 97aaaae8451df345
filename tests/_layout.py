"""Checks on WeasyPrint's laid-out pages, shared by the report and back-test tests
(no tests in this module).

``ReportRenderer.layout`` and ``review_layout`` give a WeasyPrint document whose pages
hold positioned boxes; these helpers walk them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from weasyprint.formatting_structure.boxes import Box, TableCellBox, TextBox


def boxes(document: Any) -> Iterator[Box]:
    """Every box of every page (margin boxes included)."""
    for page in document.pages:
        yield from page._page_box.descendants()


def with_class(document: Any, name: str) -> list[Box]:
    """The boxes of the elements of class ``name``."""
    return [
        b
        for b in boxes(document)
        if getattr(b, "element", None) is not None
        and name in (b.element.get("class") or "").split()
    ]


def _texts(box: Box) -> list[TextBox]:
    return [t for t in box.descendants() if isinstance(t, TextBox)]


def page_text(document: Any) -> str:
    """The text of every line, one line a row (margin boxes included)."""
    return "\n".join(b.text for b in boxes(document) if isinstance(b, TextBox))


def text_outside_cells(document: Any, tags: tuple[str, ...] = ("th",)) -> list[tuple[str, str]]:
    """Text of table cells (``th`` by default) that runs past its cell's sides:
    (cell text, the line that runs out) pairs."""
    bad = []
    for box in boxes(document):
        if not isinstance(box, TableCellBox) or box.element_tag not in tags:
            continue
        left = box.border_box_x()
        right = left + box.border_width()
        texts = _texts(box)
        for text in texts:
            if text.position_x < left - 0.5 or text.position_x + text.width > right + 0.5:
                bad.append(("".join(t.text for t in texts), text.text))
    return bad


def broken_header_words(document: Any) -> list[tuple[str, list[str]]]:
    """Headers (``th``) whose lines split a word (``Customer`` / ``s``): (header, lines).

    For Latin text: Chinese headers may wrap between any two characters. A word the
    layout hyphenated where it broke (``Per-`` / ``centile``, where the CSS allows it)
    is whole.
    """
    bad = []
    for box in boxes(document):
        if not isinstance(box, TableCellBox) or box.element_tag != "th":
            continue
        lines = [t.text for t in _texts(box)]
        header = " ".join(lines)
        text = "".join(box.element.itertext())
        joined = lines[0] if lines else ""
        for line in lines[1:]:
            tail, head = joined.rstrip(), line.lstrip()
            word = tail.split()[-1] if tail.split() else ""
            if word.endswith("-") and head and word[:-1] + head.split()[0] in text.split():
                joined = tail[:-1] + head  # a hyphen the layout added: the word goes on
            elif word.endswith("-") and head and word + head.split()[0] in text.split():
                joined = tail + head  # the word's own hyphen
            else:
                joined += " " + line
        if joined.split() != text.split():
            bad.append((header, lines))
    return bad
