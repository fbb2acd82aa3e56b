"""Text from the server or the user, made safe to show on a terminal through rich.

Job errors, URLs, titles, file names, owners, key and schedule names, a worker's progress message: any of
them may hold what a terminal or rich would act on instead of showing it. `plain` makes such a value a rich
`Text`, which rich never reads as markup (`[bold]`, `[/]`, `[link=…]` are shown as they are), with every
character that is not shown as a character written as its escape (`\\x1b`, `\\u202e`, as Python writes it):
control characters (an ANSI sequence such as `\\x1b[2J` would clear the screen, `\\r` would overwrite the
line), invisible format characters (bidirectional overrides that reorder what follows, zero-width spaces
and joiners that the terminal and rich measure differently, so a table's columns no longer line up), line
and paragraph separators, and unpaired surrogates (which no terminal encoding can write).

Kept are the joiners that writing needs and that take no room: a zero-width joiner or non-joiner next to a
virama (Devanagari, Bengali, Sinhala...), a non-joiner between two Arabic-script letters (Persian), as the
gateway's own names and paths allow them (`jobcommon.requests.safe_text`). One inside an emoji sequence is
shown as its escape: rich measures the emoji it joins one by one, the terminal draws one, and the row would
no longer line up.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache

from rich.text import Text

_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_MAYBE_UNSHOWN = re.compile(r"[^\x20-\x7e]")
"""Printable ASCII is always shown as it is; anything else is looked at."""
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BLANK = re.compile(r"[\t\r\n]+")


@lru_cache(maxsize=4096)
def _escaped(char: str) -> str | None:
    """How `char` is written if it is not shown as it is (`\\x1b`, `\\u202e`, as Python writes it)."""
    if unicodedata.category(char) not in _UNSHOWN:
        return None
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


ZWNJ, ZWJ = "\u200c", "\u200d"
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


def _base(text: str, index: int, step: int) -> str:
    """The nearest character from `index` on (in direction `step`) that is not a combining mark."""
    while 0 <= index < len(text):
        if not unicodedata.combining(text[index]):
            return text[index]
        index += step
    return ""


def _joins(text: str, index: int) -> bool:
    """Whether the joiner at `index` is part of the writing around it."""
    before = text[index - 1] if index else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if any(ch and unicodedata.combining(ch) == 9 for ch in (before, after)):  # next to a virama
        return True
    return text[index] == ZWNJ and all(
        _ARABIC_SCRIPT.match(ch) and unicodedata.category(ch)[0] in "LN"
        for ch in (_base(text, index - 1, -1), _base(text, index + 1, 1))
    )


def _kept(found: re.Match[str]) -> bool:
    char = found[0]
    return _escaped(char) is None or (char in (ZWJ, ZWNJ) and _joins(found.string, found.start()))


def _python_escape(found: re.Match[str]) -> str:
    return found[0] if _kept(found) else _escaped(found[0]) or found[0]


def clean(value: object, lines: bool = False) -> str:
    """`value` as text with nothing a terminal acts on: line breaks (`\\n`, `\\r\\n`, `\\r`) kept with
    `lines` (a message), else (a table cell, a one-line listing) they and tabs become one space each run."""
    text = str(value)
    if lines:
        parts = _LINE_BREAK.split(text.replace("\t", " "))
        return "\n".join(_MAYBE_UNSHOWN.sub(_python_escape, part) for part in parts)
    return _MAYBE_UNSHOWN.sub(_python_escape, _BLANK.sub(" ", text))


def plain(value: object, style: str = "", lines: bool = False) -> Text:
    """`value` as a rich Text shown exactly as it reads (no markup, no highlighting), cleaned as `clean`
    says."""
    return Text(clean(value, lines=lines), style=style)


def _json_escape(found: re.Match[str]) -> str:
    char = found[0]
    if char == "\n" or _kept(found):  # json.dumps escapes every line break inside a string
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"  # as a surrogate pair


def json_text(value: object, indent: int | None = 2) -> str:
    """`value` as JSON for a person to read (indented, or on one line with `indent=None`): its letters as
    they are (`Café`, `東京`), what `clean` escapes written as JSON escapes (`\\u202e`), so that it still
    parses."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return _MAYBE_UNSHOWN.sub(_json_escape, text)
