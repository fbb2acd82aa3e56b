"""`image_optimize` of an animation holds every decoded frame until it is encoded: it is bounded by the budget
of an animated resize (`MAX_ANIMATED_OUTPUT_PIXELS` over all frames), not only by the decompression-bomb
limit, so a small GIF of thousands of frames cannot take hundreds of megabytes (a 52 KB GIF of 2,000 frames of
200x200 took 375 MB before)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from imaging import optimize
from imaging.errors import BadMedia
from imaging.output_caps import MAX_ANIMATED_OUTPUT_PIXELS
from imaging.work import Work
from jobcommon import ImageOptimizeRequest
from tests.support.images import write_animation, write_gif_of_tiny_frames

if TYPE_CHECKING:
    from pathlib import Path

    from imaging.results import OptimizeResult

SIDE = 200
"""Frames of 200x200: 1,000 of them are the whole budget (40 million pixels)."""
PEAK_MB = 200
"""Most memory (peak RSS) a process may reach refusing the 2,000-frame GIF: it starts at about 65 MB, and took
375 MB when every frame was decoded and held."""


def _optimize(tmp_path: Path, source: Path, fmt: str) -> OptimizeResult:
    scratch = tmp_path / f"out-{source.stem}-{fmt}"
    scratch.mkdir()
    work = Work(source=source.name, path=str(source), scratch=str(scratch), rel_dir="")
    request = ImageOptimizeRequest.model_validate({"sources": [source.name], "format": fmt})
    return optimize.render(work, request)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_an_animation_past_the_output_budget_is_refused_before_its_frames_are_decoded(
    tmp_path: Path, fmt: str
) -> None:
    frames = 2 * MAX_ANIMATED_OUTPUT_PIXELS // (SIDE * SIDE)
    gif = write_gif_of_tiny_frames(tmp_path / "many.gif", (SIDE, SIDE), frames)
    assert gif.stat().st_size < 100_000
    with pytest.raises(BadMedia) as refused:
        _optimize(tmp_path, gif, fmt)
    assert refused.value.error_type == "OutputTooLarge"
    assert str(refused.value) == (
        "many.gif: 2000 frames of 200x200 would be 80000000 output pixels; an animated optimize writes at "
        "most 40000000 pixels over all its frames (an animated image_resize to at most 20000 pixels a frame "
        "keeps the animation; a thumbnail job takes its first frame)"
    )


def test_an_animation_within_the_budget_keeps_every_frame(tmp_path: Path) -> None:
    frames = MAX_ANIMATED_OUTPUT_PIXELS // SIDE**2
    budget = write_gif_of_tiny_frames(tmp_path / "budget.gif", (SIDE, SIDE), frames)
    result = _optimize(tmp_path, budget, "png")
    assert (result.source_frames, result.width, result.height) == (1000, SIDE, SIDE)
    distinct = write_animation(tmp_path / "distinct.gif", "GIF", [100] * 12, size=(SIDE, SIDE))
    result = _optimize(tmp_path, distinct, "webp")
    assert (result.source_frames, result.frames, result.duration_ms) == (12, 12, 1200)


def test_refusing_a_small_gif_of_thousands_of_frames_takes_little_memory(tmp_path: Path) -> None:
    """Measured in a process of its own (its peak resident memory, VmHWM: unlike ru_maxrss it is not inherited
    from the process that started it), as a worker of the imaging pool would reach it."""
    gif = write_gif_of_tiny_frames(tmp_path / "many.gif", (SIDE, SIDE), 2000)
    scratch = tmp_path / "out"
    scratch.mkdir()
    code = textwrap.dedent(
        f"""
        import json, re
        from imaging import optimize
        from imaging.errors import BadMedia
        from imaging.work import Work
        from jobcommon import ImageOptimizeRequest
        work = Work(source="many.gif", path={str(gif)!r}, scratch={str(scratch)!r}, rel_dir="")
        request = ImageOptimizeRequest.model_validate({{"sources": ["many.gif"], "format": "png"}})
        try:
            optimize.render(work, request)
            outcome = "written"
        except BadMedia as exc:
            outcome = exc.error_type
        with open("/proc/self/status") as status:
            peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024
        print(json.dumps({{"outcome": outcome, "peak_mb": peak}}))
        """
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["outcome"] == "OutputTooLarge"
    assert measured["peak_mb"] < PEAK_MB, measured
