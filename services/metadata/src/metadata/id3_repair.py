"""An ID3v2 tag whose frame sizes do not add up, rebuilt from the frames that can still be told apart.

mutagen skips a frame whose content it cannot decode (bad UTF-8 or UTF-16, an unknown encoding, junk in a
picture or comment frame) and keeps the others: nothing to do for those. But it walks the frames by their
sizes, so one frame whose size is wrong swallows the frames after it (their headers become its text: an album
``AlbTPE1...Artist``, the artist gone) or makes the walk land in the middle of some content. `rebuild_id3`
walks the frames the same way, but a frame that does not end exactly where another frame header, the padding
or the tag's end begins is dropped, and the walk goes on at the next offset that holds a known frame which
does: the frames that were written correctly are kept, whatever one bad frame says. The frames kept go, as
they are, into a consistent tag mutagen then reads as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mutagen.id3 import Frames, Frames_2_2

from jobcommon.mpeg_audio import ID3_HEADER, id3v2_length

_UNSYNC_FLAG = 0x80
_EXTENDED_FLAG = 0x40
_FRAME_ID = {2: re.compile(rb"[A-Z0-9]{3}"), 3: re.compile(rb"[A-Z0-9]{4}"), 4: re.compile(rb"[A-Z0-9]{4}")}
_KNOWN = {2: frozenset(name.encode() for name in Frames_2_2)} | dict.fromkeys(
    (3, 4), frozenset(name.encode() for name in Frames)
)
"""Frame ids mutagen reads: where the walk may pick up again after a bad frame (any valid id is kept when the
walk reaches it in step, unknown ones too)."""
_KNOWN_SEARCH = {
    major: re.compile(b"|".join(re.escape(name) for name in sorted(names))) for major, names in _KNOWN.items()
}
RESUME_TRIES = 10_000
"""Candidate frame headers tried at most, in all, to find where the walk picks up again (a hostile 16 MB tag
could hold millions of them)."""


@dataclass(frozen=True, slots=True)
class RebuiltTag:
    tag: bytes
    """A whole ID3v2 tag (header and frames) of the same version; no tag-level flags."""
    kept: int
    dropped: int
    """Frames whose size did not fit, and stretches of bytes skipped to find the next frame."""


def _syncsafe(size: int) -> bytes:
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


@dataclass(frozen=True, slots=True)
class _Layout:
    major: int

    @property
    def id_size(self) -> int:
        return 3 if self.major == 2 else 4

    @property
    def header(self) -> int:
        return 6 if self.major == 2 else 10

    def sizes(self, raw: bytes) -> list[int]:
        """The frame size a header's size field may mean: v2.4's is sync-safe, but iTunes wrote plain ones."""
        plain = int.from_bytes(raw, "big")
        if self.major < 4:
            return [plain]
        safe = (raw[0] & 0x7F) << 21 | (raw[1] & 0x7F) << 14 | (raw[2] & 0x7F) << 7 | raw[3] & 0x7F
        return [safe] if safe == plain else [safe, plain]

    def size_field(self, size: int) -> bytes:
        if self.major == 2:
            return size.to_bytes(3, "big")
        return _syncsafe(size) if self.major == 4 else size.to_bytes(4, "big")


def _ends_well(body: bytes, end: int, layout: _Layout, *, lookahead: bool = True) -> bool:
    """Whether `end` is where a frame may end: the tag's end, padding, or another frame header: one of a valid
    id, or (`lookahead`) one of an id mutagen skips whose own size ends well."""
    if end == len(body):
        return True
    if end > len(body):
        return False
    rest = body[end : end + layout.header]
    if not rest.strip(b"\x00"):
        return True  # padding (or a last header cut short, which mutagen ignores too)
    if len(rest) < layout.header:
        return False
    if _FRAME_ID[layout.major].fullmatch(rest[: layout.id_size]):
        return True
    return lookahead and any(
        size > 0 and _ends_well(body, end + layout.header + size, layout, lookahead=False)
        for size in layout.sizes(rest[layout.id_size : layout.id_size + (3 if layout.major == 2 else 4)])
    )


def _frame_at(body: bytes, pos: int, layout: _Layout, *, known: bool = False) -> int | None:
    """The size of the frame whose header is at `pos`, when its id is valid (`known`: one mutagen reads) and
    it ends well."""
    name = body[pos : pos + layout.id_size]
    valid = name in _KNOWN[layout.major] if known else _FRAME_ID[layout.major].fullmatch(name) is not None
    if not valid:
        return None
    raw = body[pos + layout.id_size : pos + layout.header - (0 if layout.major == 2 else 2)]
    for size in layout.sizes(raw):
        if size > 0 and _ends_well(body, pos + layout.header + size, layout):
            return size
    return None


def _body(tag: bytes, major: int, flags: int) -> bytes | None:
    """The frames of `tag` (its header and extended header left out, unsynchronisation undone)."""
    length = id3v2_length(tag)
    if length is None:
        return None
    body = tag[ID3_HEADER:length]
    if major == 4 and len(body) >= ID3_HEADER and flags & 0x10:
        body = body[:-ID3_HEADER]  # the footer
    if major < 4 and flags & _UNSYNC_FLAG:
        body = body.replace(b"\xff\x00", b"\xff")
    if major >= 3 and flags & _EXTENDED_FLAG:
        if len(body) < 4:
            return None
        size = body[:4]
        if major == 4:
            skip = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]
        else:
            skip = 4 + int.from_bytes(size, "big")
        if skip > len(body):
            return None
        body = body[skip:]
    return body


def _resume(body: bytes, start: int, layout: _Layout, tries: int) -> tuple[int, int]:
    """Where the walk picks up after a bad frame: the next offset from `start` holding a known frame that ends
    well (the end of `body` when none does, or once `RESUME_TRIES` candidates were tried in all), and the
    candidates tried so far."""
    for found in _KNOWN_SEARCH[layout.major].finditer(body, start):
        if tries >= RESUME_TRIES:
            break
        tries += 1
        if _frame_at(body, found.start(), layout, known=True) is not None:
            return found.start(), tries
    return len(body), tries


def rebuild_id3(tag: bytes) -> RebuiltTag | None:
    """`tag` (an ID3v2 tag's bytes, from its header on) without the frames whose sizes do not fit; None when
    it is no ID3v2 tag or its extended header does not fit in it."""
    major, flags = (tag[3], tag[5]) if len(tag) >= ID3_HEADER else (0, 0)
    body = _body(tag, major, flags)
    if body is None:
        return None
    layout = _Layout(major)
    frames: list[bytes] = []
    dropped, pos, tries = 0, 0, 0
    while pos + layout.header <= len(body):
        if not body[pos : pos + layout.id_size].strip(b"\x00"):
            break  # padding
        size = _frame_at(body, pos, layout)
        if size is not None:
            start = pos + layout.header
            flags_field = b"" if major == 2 else body[start - 2 : start]
            name = body[pos : pos + layout.id_size]
            frames.append(name + layout.size_field(size) + flags_field + body[start : start + size])
            pos = start + size
            continue
        dropped += 1
        pos, tries = _resume(body, pos + 1, layout, tries)
    content = b"".join(frames)
    header = b"ID3" + bytes((major, 0, 0)) + _syncsafe(len(content))
    return RebuiltTag(tag=header + content, kept=len(frames), dropped=dropped)
