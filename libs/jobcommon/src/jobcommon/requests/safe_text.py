"""`safe_text`: the validator of names and paths a person reads (key names, media paths).

It refuses what makes a text read differently from what it is:

- by Unicode category: controls (C0, DEL, C1, whose CSI starts a terminal escape), format characters (soft
  hyphen, zero-width space, joiners, word joiner, bidi marks, embeddings, overrides and isolates, tag
  characters, BOM), line and paragraph separators;
- invisible characters of other categories: the combining grapheme joiner, Hangul fillers, Khmer inherent
  vowels, and variation selectors where they select nothing.

What ordinary text needs of these stays allowed, so a media library's file names keep them:

- a zero-width joiner or non-joiner (ZWJ, ZWNJ) next to a virama (Devanagari, Bengali, Malayalam chillus,
  Sinhala...); a ZWNJ between two Arabic-script letters or digits (Persian); a ZWJ inside an emoji sequence
  (an emoji, its skin tone or emoji presentation selector, then an emoji: families, rainbow flag, "heart on
  fire"). Between Latin, Cyrillic, Greek or CJK letters, or next to ASCII, they stay refused: `pay` + ZWNJ +
  `pal` would pass for `paypal`;
- a variation selector after an emoji or a CJK ideograph, and the keycap sequence (`1` + U+FE0F + U+20E3);
- the tags of the flags of England, Scotland and Wales (the only subdivision flags emoji fonts draw); any
  other tag could hide text in a name.
"""

from __future__ import annotations

import re
import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories a name or path may not hold, but for the uses above."""
ZWNJ, ZWJ = "\u200c", "\u200d"
EMOJI_PRESENTATION = "\ufe0f"
KEYCAP = "\u20e3"
BLACK_FLAG = "\U0001f3f4"
SUBDIVISION_FLAGS = ("gbeng", "gbsct", "gbwls")
_FLAG_TAGS = re.compile(
    "|".join("".join(chr(0xE0000 + ord(c)) for c in code) + "\U000e007f" for code in SUBDIVISION_FLAGS)
)
_MONGOLIAN_SELECTORS = "\u180b\u180c\u180d\u180f"
_VARIATION_SELECTORS = f"\ufe00-\ufe0f\U000e0100-\U000e01ef{_MONGOLIAN_SELECTORS}"
_INVISIBLE = re.compile(f"[\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0{_VARIATION_SELECTORS}]")
_VARIATION_SELECTOR = re.compile(f"[{_VARIATION_SELECTORS}]")
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_REFUSED = "control, invisible and bidirectional-override characters are not allowed"


def safe_text(value: str) -> str:
    """Validator: no control, invisible or bidi characters (see the module's docstring for what is kept)."""
    if value.isprintable() and not _INVISIBLE.search(value):
        return value
    index = 0
    while index < len(value):
        ch = value[index]
        before = value[index - 1] if index else ""
        after = value[index + 1] if index + 1 < len(value) else ""
        if ch == BLACK_FLAG and (tags := _FLAG_TAGS.match(value, index + 1)):
            index = tags.end()
            continue
        suspect = unicodedata.category(ch) in UNSAFE_CATEGORIES or _INVISIBLE.match(ch)
        if suspect and not _in_context(value, index, ch, before, after):
            raise ValueError(_REFUSED)
        index += 1
    return value


def _in_context(value: str, index: int, ch: str, before: str, after: str) -> bool:
    """Whether `ch`, a joiner or variation selector at `index`, is part of the text around it."""
    if ch in (ZWJ, ZWNJ):
        if _is_virama(before) or _is_virama(after):
            return True
        if ch == ZWNJ:
            return _arabic(_base_before(value, index)) and _arabic(_base_after(value, index))
        return (_emoji(before) or before == EMOJI_PRESENTATION) and _emoji(after)
    if _VARIATION_SELECTOR.match(ch):
        if ch == EMOJI_PRESENTATION and after == KEYCAP:
            return before != "" and before in "0123456789#*"
        if ch in _MONGOLIAN_SELECTORS:
            return "\u1820" <= before <= "\u18aa"
        return _emoji(before) or _cjk(before)
    return False


def _is_virama(ch: str) -> bool:
    return bool(ch) and unicodedata.combining(ch) == 9


def _emoji(ch: str) -> bool:
    """An emoji (or its skin tone): a symbol beyond Latin-1, or the copyright and registered signs."""
    return bool(ch) and (
        ch in "\u00a9\u00ae" or (ch >= "\u2000" and unicodedata.category(ch) in ("So", "Sk"))
    )


def _cjk(ch: str) -> bool:
    return bool(ch) and unicodedata.name(ch, "").startswith("CJK ")


def _arabic(ch: str) -> bool:
    return bool(_ARABIC_SCRIPT.match(ch)) and unicodedata.category(ch)[0] in "LN"


def _base_before(value: str, index: int) -> str:
    """The nearest character before `index` that is not a combining mark ('' if none)."""
    while index > 0:
        index -= 1
        if not unicodedata.combining(value[index]):
            return value[index]
    return ""


def _base_after(value: str, index: int) -> str:
    while index + 1 < len(value):
        index += 1
        if not unicodedata.combining(value[index]):
            return value[index]
    return ""
