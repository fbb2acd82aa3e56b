"""`safe_text`: the validator of names and paths a person reads (key names, media paths).

It refuses what makes a text read differently from what it is, by Unicode category: controls (C0, DEL, C1,
whose CSI starts a terminal escape), format characters (soft hyphen, zero-width space, word joiner, bidi
marks, embeddings, overrides and isolates, tag characters, BOM), and line and paragraph separators.

Two uses of format characters are ordinary text, so a media library's file names keep them:

- the zero-width joiner and non-joiner (U+200D, U+200C) between two non-ASCII letters, marks or symbols:
  in Persian and Indic words, and in emoji sequences (man, ZWJ, woman, ZWJ, girl: a family). Next to ASCII
  they stay refused (`pay` + ZWNJ + `pal` is not `paypal`).
- tag characters in a subdivision flag: U+1F3F4, then 1-7 tag letters or digits, then the cancel tag
  (`🏴` + `gbsct` + cancel = the flag of Scotland). Elsewhere they could hide text in a name.
"""

from __future__ import annotations

import re
import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories a name or path may not hold, but for the two uses above."""
JOINERS = frozenset("\u200c\u200d")
_TAG_RUN = re.compile("[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,7}\U000e007f")


def safe_text(value: str) -> str:
    """Validator: no control, invisible or bidi characters (see the module's docstring for what is kept)."""
    if value.isprintable():
        return value
    index = 0
    while index < len(value):
        ch = value[index]
        if unicodedata.category(ch) in UNSAFE_CATEGORIES:
            if ch in JOINERS and 0 < index < len(value) - 1 and _joinable(value[index - 1], value[index + 1]):
                pass
            elif index > 0 and value[index - 1] == "\U0001f3f4" and (run := _TAG_RUN.match(value, index)):
                index = run.end()
                continue
            else:
                raise ValueError("control, invisible and bidirectional-override characters are not allowed")
        index += 1
    return value


def _joinable(before: str, after: str) -> bool:
    return _joins(before) and _joins(after)


def _joins(ch: str) -> bool:
    """A non-ASCII letter, mark or symbol: what a joiner legitimately stands between."""
    if ch.isascii():
        return False
    category = unicodedata.category(ch)
    return category[0] in "LM" or category in ("So", "Sk")
