"""Cheap pre-scans of what mutagen would parse, refusing files that would take it minutes or gigabytes.

mutagen builds a Python object for every ID3 frame, RIFF/AIFF chunk, FLAC metadata block, MP4 atom, tag item
and Ogg page it reads, and reads whole tag blocks into memory; a small hostile file can hold millions of them
(measured, mutagen 1.48: a 2 MB WAV whose ID3 chunk holds 200,000 tiny frames took 135 s; a 12 MB WAV of
1.5 million empty chunks 88 s and 494 MB; a 12 MB FLAC of 3 million padding blocks 79 s and 313 MB; a 12 MB
M4A of 1.5 million atoms 20 s and 371 MB; a 100 MB Ogg comment 397 MB). Each scan here walks the structure
the way mutagen will (by the same sizes, stopping where it stops), reading headers only, and stops at the
first limit passed:

- an ID3v2 tag (at the start of a file, or in the ``id3 ``/``ID3 `` chunk of a WAV, the ``ID3 `` chunk of an
  AIFF): at most `ID3_TAG_LIMIT` bytes and `ID3_FRAME_LIMIT` frames, each frame within the tag;
- RIFF (WAV, AVI) and AIFF: at most `CHUNK_LIMIT` chunks at the top level;
- FLAC: at most `BLOCK_LIMIT` metadata blocks, `COMMENT_LIMIT` comments, `SEEKPOINT_LIMIT` seek points,
  `TAG_BYTES_LIMIT` bytes of blocks (Vorbis comment and picture blocks measured by their content, as mutagen
  reads them, not by their headers);
- MP4/MOV: at most `ATOM_LIMIT` atoms (mutagen walks every top-level atom and the children of its container
  atoms), at most `ITEM_LIMIT` tag items (and values) and `TAG_BYTES_LIMIT` bytes of them, and no atom mutagen
  reads whole (``stsd``, ``mvhd``, ...) over `ATOM_READ_LIMIT` bytes;
- Ogg: at most `PAGE_LIMIT` pages to read, either until the comment header is complete or, when the last
  page of the file is not the end of the first stream (mutagen then reads every page for the duration);
  a comment header of at most `TAG_BYTES_LIMIT` bytes and `COMMENT_LIMIT` comments.

`prescan(path)` says why a file is refused (None: mutagen may read it), and where its ID3 tag is when the
tag's frame sizes do not add up: such a tag is not refused (mutagen walks the same frame headers, so its
frame count holds); its good frames are kept (`metadata.id3_repair`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

from jobcommon.mpeg_audio import ID3_HEADER, id3v2_length

if TYPE_CHECKING:
    from pathlib import Path

ID3_TAG_LIMIT = 16 * 1024 * 1024
"""Bytes of an ID3v2 tag mutagen is let parse (big cover art takes a few MB)."""
ID3_FRAME_LIMIT = 2_000
"""Frames of an ID3v2 tag mutagen is let parse (a real tag has tens): its ID3 parser slows down worse than
linearly with the count (1,000,000 tiny frames: 10 minutes, 600 MB)."""
CHUNK_LIMIT = 1_000
"""Top-level chunks of a RIFF or AIFF file (a real one has a handful)."""
BLOCK_LIMIT = 1_000
"""Metadata blocks of a FLAC file (a real one has a few, a few dozen with scanned booklet pages)."""
SEEKPOINT_LIMIT = 100_000
"""Points of a FLAC seek table (mutagen makes a tuple of each: 932,000 took 2.6 s and 126 MB; flac writes one
every 10 s)."""
COMMENT_LIMIT = 10_000
"""Vorbis comments (FLAC, Ogg) of one file (a real one has tens)."""
ITEM_LIMIT = 10_000
"""MP4 tag items and their values together (a real file has tens)."""
TAG_BYTES_LIMIT = 32 * 1024 * 1024
"""Bytes of tags mutagen is let hold in memory: a FLAC's metadata blocks, an MP4's ``ilst``, an Ogg comment
header (mutagen holds several copies of the latter: a 100 MB one took 397 MB)."""
ATOM_LIMIT = 200_000
"""MP4 atoms mutagen is let build (some 250 bytes and 7-13 µs each): a fragmented MP4 has some seven a
fragment, so hours of one-second fragments."""
ATOM_READ_LIMIT = 16 * 1024 * 1024
"""Bytes of an atom mutagen reads whole for the stream facts (``stsd``, ``mvhd``, ``mdhd``, ``hdlr``,
``chpl``: a real one has at most kilobytes)."""
PAGE_LIMIT = 200_000
"""Ogg pages mutagen is let read one by one (some 8 µs each): 800 MB of typical 4 KB pages."""

_ID3_FRAME_ID = {2: re.compile(rb"[A-Z0-9]{3}"), 3: re.compile(rb"[A-Z0-9]{3}[A-Z0-9\x00]")}
_ID3_UNSYNC_FLAG = 0x80
_ID3_EXTENDED_FLAG = 0x40
_ID3_FOOTER_FLAG = 0x10
_IFF_ID = re.compile(rb"[ -~]{4}")
"""A chunk id mutagen accepts (it stops at any other); trailing blanks are stripped from it."""
_MP4_CONTAINERS = frozenset(
    {b"moov", b"udta", b"trak", b"mdia", b"meta", b"ilst", b"stbl", b"minf", b"moof", b"traf"}
)
"""Atoms whose children mutagen parses (`mutagen.mp4._atom._CONTAINERS`); ``meta`` has 4 bytes first."""
_ILST_PATH = [b"moov", b"udta", b"meta"]
"""Where mutagen reads the tags (``ilst``) from."""
_MP4_READ_WHOLE = frozenset({b"stsd", b"mvhd", b"mdhd", b"hdlr", b"chpl"})
_FLAC_SEEKTABLE, _FLAC_COMMENT, _FLAC_PICTURE = 3, 4, 6
_SEEKPOINT = 18
_OGG_HEADER = struct.Struct("<4sBBqIIiB")
_OGG_LAST_FLAG = 0x04
_OGG_TAIL = 256 * 256
"""Bytes at the end of an Ogg file mutagen looks in for its last page before reading every page."""
_OGG_ID_HEADERS = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   ", b"\x80theora")
_OGG_COMMENT_HEADERS = {b"\x03vorbis": 7, b"OpusTags": 8, b"\x81theora": 7}
"""Comment packets whose Vorbis comment mutagen reads after this many bytes (Ogg FLAC's and Speex's have
other framings: only their size is checked)."""


class _Refused(Exception):
    """Why the file is refused."""


@dataclass(frozen=True, slots=True)
class Prescan:
    refused: str | None = None
    """Why mutagen must not parse the file; None when it may."""
    misframed_id3: int | None = None
    """The offset of the ID3v2 tag mutagen reads the tags from, when its frame sizes do not add up (a frame
    running past the tag, or not ending where another begins): `metadata.id3_repair` keeps the good frames."""


def prescan(path: Path) -> Prescan:
    """Whether mutagen may parse `path` (not too many or too big structures), and whether its ID3 tag needs
    repair. Reads headers only: at most `ID3_TAG_LIMIT` bytes of an ID3 tag, `TAG_BYTES_LIMIT` of an Ogg
    comment header."""
    misframed: int | None = None
    with path.open("rb") as file:
        head = file.read(128)
        try:
            if head.startswith(b"ID3"):
                end, fits = _check_id3(file, 0)
                file.seek(end)
                if file.read(4) == b"fLaC":  # FLAC behind an ID3 tag (mutagen skips one; tags are FLAC's)
                    _check_flac(file, end + 4)
                elif not fits:
                    misframed = 0
            elif head.startswith((b"RIFF", b"FORM")):
                misframed = _check_iff(file, head)
            elif head.startswith(b"fLaC"):
                _check_flac(file, 4)
            elif head.startswith(b"OggS") and any(name in head for name in _OGG_ID_HEADERS):
                _check_ogg(file)
            elif b"ftyp" in head or b"mp4" in head:  # what mutagen's MP4 scores
                _check_mp4(file)
        except _Refused as refused:
            return Prescan(refused=str(refused))
    return Prescan(misframed_id3=misframed)


def refusal(path: Path) -> str | None:
    """Why mutagen must not parse `path` (`prescan`); None when it may."""
    return prescan(path).refused


# ID3v2


def _check_id3(file: BinaryIO, offset: int) -> tuple[int, bool]:
    """Refuse the ID3v2 tag at `offset` when it is too big or of too many frames; the offset past it, and
    whether its frames fit in it. Nothing to refuse (the offset, True) where no tag starts."""
    file.seek(offset)
    head = file.read(ID3_HEADER)
    if not head.startswith(b"ID3"):
        return offset, True
    length = id3v2_length(head)
    if length is None:
        raise _Refused("its ID3 tag's header is invalid")
    if length > ID3_TAG_LIMIT:
        raise _Refused(f"its ID3 tag is {length / 2**20:.1f} MB, more than {ID3_TAG_LIMIT / 2**20:.0f} MB")
    major, flags = head[3], head[5]
    footer = ID3_HEADER if major == 4 and flags & _ID3_FOOTER_FLAG else 0
    counted = _id3_frame_count(file.read(length - ID3_HEADER - footer), major, flags)
    if counted is None:
        raise _Refused("its ID3 tag's extended header does not fit in it")
    frames, fits = counted
    if frames > ID3_FRAME_LIMIT:
        raise _Refused(f"its ID3 tag holds more than {ID3_FRAME_LIMIT} frames")
    return offset + length, fits


def _id3_frame_count(body: bytes, major: int, flags: int) -> tuple[int, bool] | None:
    """Frame headers in an ID3v2.`major` tag's `body` as mutagen walks them (counted up to one past
    `ID3_FRAME_LIMIT`), and whether some reading of the sizes makes sense (every frame id valid, no frame
    past the end; otherwise mutagen walks the same headers, its tags garbled: the count still holds); None
    when the extended header does not fit. v2.4 sizes are read both sync-safe and plain (iTunes wrote plain
    ones; mutagen guesses which): the larger count counts."""
    if major < 4 and flags & _ID3_UNSYNC_FLAG:
        body = body.replace(b"\xff\x00", b"\xff")
    if major >= 3 and flags & _ID3_EXTENDED_FLAG and not _ID3_FRAME_ID[3].fullmatch(body[:4]):
        if len(body) < 4:
            return None
        if major == 4:
            size = body[:4]
            skip = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]  # counts its own 4 bytes
        else:
            skip = 4 + int.from_bytes(body[:4], "big")
        if skip > len(body):
            return None
        body = body[skip:]
    walks = [_id3_walk(body, 3 if major == 2 else 4, syncsafe=False)]
    if major == 4:
        walks.append(_id3_walk(body, 4, syncsafe=True))
    return max(count for count, _ in walks), any(sensible for _, sensible in walks)


def _id3_walk(body: bytes, id_size: int, *, syncsafe: bool) -> tuple[int, bool]:
    """(frames, whether each had a valid id and fitted in `body`), stopping as mutagen does: at a frame id
    of zero bytes (padding) or where no whole header is left; counts at most one past ID3_FRAME_LIMIT."""
    header, frame_id = (6, _ID3_FRAME_ID[2]) if id_size == 3 else (10, _ID3_FRAME_ID[3])
    count, pos, sensible = 0, 0, True
    while pos + header <= len(body) and count <= ID3_FRAME_LIMIT:
        name = body[pos : pos + id_size]
        if not name.strip(b"\x00"):
            break
        raw = body[pos + id_size : pos + id_size + (3 if id_size == 3 else 4)]
        if syncsafe:
            size = (raw[0] & 0x7F) << 21 | (raw[1] & 0x7F) << 14 | (raw[2] & 0x7F) << 7 | raw[3] & 0x7F
        else:
            size = int.from_bytes(raw, "big")
        count += 1
        pos += header + size
        if not frame_id.fullmatch(name) or pos > len(body):
            sensible = False
    return count, sensible


# RIFF (WAV) and AIFF


def _check_iff(file: BinaryIO, head: bytes) -> int | None:
    """The top-level chunks of a RIFF or AIFF file, as mutagen's IFF reader walks them (each chunk padded to
    an even size; a bad id or a short header ends the walk), and the ID3 tag of the chunk mutagen reads it
    from: the first ``id3 `` or ``ID3 `` chunk of a WAV, the first ``ID3 `` chunk of an AIFF. The offset of
    that tag when its frames do not fit in it."""
    riff = head.startswith(b"RIFF")
    order: Literal["little", "big"] = "little" if riff else "big"
    names = (b"id3 ", b"ID3 ") if riff else (b"ID3 ",)
    containers = (b"RIFF", b"LIST") if riff else (b"FORM",)
    end = 8 + int.from_bytes(head[4:8], order)
    end += end % 2
    pos, count, tag = 12, 0, None
    while pos < end:
        file.seek(pos)
        header = file.read(8)
        if len(header) < 8 or not _IFF_ID.fullmatch(header[:4]) or not header[:4].rstrip():
            break
        count += 1
        if count > CHUNK_LIMIT:
            raise _Refused(f"it holds more than {CHUNK_LIMIT} chunks")
        size = int.from_bytes(header[4:8], order)
        if header[:4] in containers and size < 4:
            break  # mutagen reads these as containers, and stops at one too short for its name
        if tag is None and header[:4] in names:
            tag = pos + 8
        pos += 8 + size + size % 2
    if tag is None:
        return None
    return None if _check_id3(file, tag)[1] else tag


# FLAC


def _check_flac(file: BinaryIO, offset: int) -> None:
    """The metadata blocks from `offset`, as mutagen reads them: a Vorbis comment and a picture block by
    what they hold (mutagen distrusts their sizes), others by their headers; up to the last block."""
    pos, blocks, held = offset, 0, 0
    while True:
        file.seek(pos)
        header = file.read(4)
        if len(header) < 4:
            return  # mutagen: truncated
        blocks += 1
        if blocks > BLOCK_LIMIT:
            raise _Refused(f"it holds more than {BLOCK_LIMIT} FLAC metadata blocks")
        code = header[0] & 0x7F
        if code == _FLAC_COMMENT:
            size = _comment_size(file, pos + 4)
        elif code == _FLAC_PICTURE:
            size = _picture_size(file, pos + 4)
        else:
            size = int.from_bytes(header[1:4], "big")
        if code == _FLAC_SEEKTABLE and size > SEEKPOINT_LIMIT * _SEEKPOINT:
            raise _Refused(f"its FLAC seek table holds more than {SEEKPOINT_LIMIT} points")
        held += size
        if held > TAG_BYTES_LIMIT:
            raise _Refused(f"its FLAC metadata blocks are more than {TAG_BYTES_LIMIT // 2**20} MB")
        if header[0] & 0x80:
            return
        pos += 4 + size


def _u32(file: BinaryIO, offset: int, order: Literal["little", "big"]) -> int:
    file.seek(offset)
    raw = file.read(4)
    if len(raw) < 4:
        raise _Refused("its tags are cut short")
    return int.from_bytes(raw, order)


def _comment_size(file: BinaryIO, offset: int) -> int:
    """Bytes of the Vorbis comment (vendor, count, comments) at `offset`, walking its comments."""
    pos = offset + 4 + _u32(file, offset, "little")
    count = _u32(file, pos, "little")
    if count > COMMENT_LIMIT:
        raise _Refused(f"it holds {count} Vorbis comments, more than {COMMENT_LIMIT}")
    pos += 4
    for _ in range(count):
        pos += 4 + _u32(file, pos, "little")
        if pos - offset > TAG_BYTES_LIMIT:
            break  # the caller refuses it
    return pos - offset


def _picture_size(file: BinaryIO, offset: int) -> int:
    """Bytes of the FLAC picture block (type, MIME type, description, sizes, data) at `offset`."""
    pos = offset + 8 + _u32(file, offset + 4, "big")  # type, MIME type
    pos += 4 + _u32(file, pos, "big") + 16  # description; width, height, depth, colours
    return pos + 4 + _u32(file, pos, "big") - offset


# MP4


def _check_mp4(file: BinaryIO) -> None:
    """Every atom mutagen builds (the top-level ones, and the children of container atoms, each from where
    the last one ended) and the tag items under moov/udta/meta/ilst."""
    file.seek(0, 2)
    size = file.tell()
    count, pos, ilst = 0, 0, None
    stack: list[tuple[int, bytes]] = []  # the containers being walked: (end, name)
    while True:
        while stack and pos >= stack[-1][0]:
            stack.pop()
        if not stack and pos + 8 > size:
            break
        atom = _mp4_atom(file, pos, size, top=not stack)
        if atom is None:
            return  # mutagen: an error (truncated, a bad length)
        length, name, data = atom
        count += 1
        if count > ATOM_LIMIT:
            raise _Refused(f"it holds more than {ATOM_LIMIT} MP4 atoms")
        if name in _MP4_READ_WHOLE and length > ATOM_READ_LIMIT:
            raise _Refused(
                f"its MP4 {name.decode('latin-1')} atom is more than {ATOM_READ_LIMIT // 2**20} MB"
            )
        if ilst is None and name == b"ilst" and [parent for _, parent in stack] == _ILST_PATH:
            ilst = (data, pos + length)
        if name in _MP4_CONTAINERS:
            stack.append((pos + length, name))
            pos = data + (4 if name == b"meta" else 0)
        else:
            pos += length
    if ilst is not None:
        _check_ilst(file, *ilst)


def _mp4_atom(file: BinaryIO, pos: int, size: int, *, top: bool) -> tuple[int, bytes, int] | None:
    """(length, name, data offset) of the atom at `pos`; None where mutagen fails on it."""
    file.seek(pos)
    header = file.read(8)
    if len(header) < 8:
        return None
    length, name = int.from_bytes(header[:4], "big"), header[4:]
    data = pos + 8
    if length == 1:
        wide = file.read(8)
        if len(wide) < 8 or int.from_bytes(wide, "big") < 16:
            return None
        length, data = int.from_bytes(wide, "big"), pos + 16
    elif length == 0 and top:
        length = size - pos
    elif length < 8:
        return None
    return length, name, data


def _check_ilst(file: BinaryIO, start: int, end: int) -> None:
    """The tag items (atoms) between `start` and `end`, each holding its values (``data`` atoms): mutagen
    reads each whole and parses every value."""
    if end - start > TAG_BYTES_LIMIT:
        raise _Refused(f"its MP4 tags are more than {TAG_BYTES_LIMIT // 2**20} MB")
    file.seek(start)
    body = file.read(end - start)
    items, pos = 0, 0
    while pos + 8 <= len(body):
        length = max(8, int.from_bytes(body[pos : pos + 4], "big"))
        inner = pos + 8
        items += 1
        while inner + 8 <= min(pos + length, len(body)) and items <= ITEM_LIMIT:  # its values (and names)
            items += 1
            inner += max(8, int.from_bytes(body[inner : inner + 4], "big"))
        pos += length
    if items > ITEM_LIMIT:
        raise _Refused(f"it holds more than {ITEM_LIMIT} MP4 tag items")


# Ogg


def _check_ogg(file: BinaryIO) -> None:
    """The pages mutagen reads up to the end of the first stream's comment header (its identification
    header's page first), the comment header itself, and, when the file's last page does not end that
    stream, every page (mutagen reads them all for the duration)."""
    serial, opus, packets = _ogg_comment_header(file)
    packet = _ogg_packet(file, packets)
    skip = next((size for name, size in _OGG_COMMENT_HEADERS.items() if packet.startswith(name)), None)
    if skip is not None:
        _count_comments(packet, skip)
    if opus and not packet.startswith(b"OpusTags"):
        _ogg_pages_to_end(file, None)  # mutagen looks for it in every page
    elif not _ogg_ends_at_last_page(file, serial):
        _ogg_pages_to_end(file, serial)


def _ogg_page(file: BinaryIO, pos: int) -> tuple[int, int, list[int], int] | None:
    """(serial, flags, lacing values, data offset) of the page at `pos`; None at the end or a non-page."""
    file.seek(pos)
    header = file.read(_OGG_HEADER.size)
    if len(header) < _OGG_HEADER.size:
        return None
    magic, version, flags, _position, serial, _sequence, _crc, segments = _OGG_HEADER.unpack(header)
    lacing = file.read(segments)
    if magic != b"OggS" or version != 0 or len(lacing) < segments:
        return None
    return serial, flags, list(lacing), pos + _OGG_HEADER.size + segments


def _ogg_comment_header(file: BinaryIO) -> tuple[int, bool, list[tuple[int, int]]]:
    """(serial of the first stream, whether it is Opus, the (offset, bytes) spans of its second packet)."""
    pos, pages, serial, opus = 0, 0, None, False
    spans: list[tuple[int, int]] = []
    packets_seen = 0
    while True:
        page = _ogg_page(file, pos)
        if page is None:
            raise _Refused("its Ogg headers are cut short")
        pages += 1
        if pages > PAGE_LIMIT:
            raise _Refused(f"its Ogg headers span more than {PAGE_LIMIT} pages")
        page_serial, _flags, lacing, data = page
        if serial is None:
            file.seek(data)
            first = file.read(8)
            if first.startswith(_OGG_ID_HEADERS):
                serial, opus = page_serial, first == b"OpusHead"
        if page_serial == serial:
            done = _take_second_packet(lacing, data, spans, packets_seen)
            packets_seen += sum(1 for value in lacing if value < 255)
            if sum(size for _, size in spans) > TAG_BYTES_LIMIT:
                raise _Refused(f"its Ogg comment header is more than {TAG_BYTES_LIMIT // 2**20} MB")
            if done:
                return serial, opus, spans
        pos = data + sum(lacing)


def _take_second_packet(lacing: list[int], data: int, spans: list[tuple[int, int]], seen: int) -> bool:
    """Add the bytes of a stream's second packet on this page (whose data starts at `data`, `seen` packets of
    the stream ended before it) to `spans`; whether that packet ends on this page."""
    offset, start, run = data, data, 0
    for value in lacing:
        run += value
        offset += value
        if value < 255:
            if seen == 1:
                spans.append((start, run))
                return True
            seen, start, run = seen + 1, offset, 0
    if seen == 1 and run:
        spans.append((start, run))
    return False


def _ogg_packet(file: BinaryIO, spans: list[tuple[int, int]]) -> bytes:
    parts = []
    for offset, size in spans:
        file.seek(offset)
        parts.append(file.read(size))
    return b"".join(parts)


def _count_comments(packet: bytes, skip: int) -> None:
    if len(packet) < skip + 8:
        return
    (vendor,) = struct.unpack_from("<I", packet, skip)
    at = skip + 4 + vendor
    if at + 4 > len(packet):
        return
    (count,) = struct.unpack_from("<I", packet, at)
    if count > COMMENT_LIMIT:
        raise _Refused(f"it holds {count} Vorbis comments, more than {COMMENT_LIMIT}")


def _ogg_ends_at_last_page(file: BinaryIO, serial: int) -> bool:
    """Whether the last page in the file's last 64 KB is the last (end-of-stream) page of `serial` with a
    granule position: mutagen's quick way to the duration."""
    file.seek(0, 2)
    size = file.tell()
    file.seek(max(0, size - _OGG_TAIL))
    tail = file.read()
    index = tail.rfind(b"OggS")
    if index < 0:
        return True  # mutagen fails at once
    if len(tail) - index < _OGG_HEADER.size:
        return False
    _magic, _version, flags, position, page_serial, *_, segments = _OGG_HEADER.unpack_from(tail, index)
    data = index + _OGG_HEADER.size + segments
    whole = data <= len(tail) and data + sum(tail[data - segments : data]) <= len(tail)  # else: not a page
    return whole and page_serial == serial and position != -1 and bool(flags & _OGG_LAST_FLAG)


def _ogg_pages_to_end(file: BinaryIO, serial: int | None) -> None:
    """Count the pages mutagen reads from the start to the last page of `serial` (None: to the end)."""
    pos, pages = 0, 0
    while (page := _ogg_page(file, pos)) is not None:
        pages += 1
        if pages > PAGE_LIMIT:
            raise _Refused(
                f"its Ogg streams span more than {PAGE_LIMIT} pages before the end of the first one"
            )
        page_serial, flags, lacing, data = page
        if page_serial == serial and flags & _OGG_LAST_FLAG:
            return
        pos = data + sum(lacing)
