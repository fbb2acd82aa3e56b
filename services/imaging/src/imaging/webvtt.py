"""WebVTT for storyboards: one cue per tile, its text a media fragment `<sheet>#xywh=x,y,w,h`.

This is the thumbnail track format video players (video.js, Plyr, JW Player, Vidstack) read for scrubbing
previews: the cue covering the hovered time names the sprite sheet and the tile's rectangle in it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    sheet: str
    """The sprite sheet's file name, relative to the VTT file."""
    x: int
    y: int
    width: int
    height: int


def timestamp(seconds: float) -> str:
    """`HH:MM:SS.mmm` (hours always present, as every player accepts)."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def render(cues: list[Cue]) -> str:
    lines = ["WEBVTT", ""]
    for cue in cues:
        lines.append(f"{timestamp(cue.start)} --> {timestamp(cue.end)}")
        lines.append(f"{cue.sheet}#xywh={cue.x},{cue.y},{cue.width},{cue.height}")
        lines.append("")
    return "\n".join(lines)
