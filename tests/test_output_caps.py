"""Output sizes (issue 9, item 8): images are capped per output, per job (and source) and per storyboard tile.

What the request alone shows too large is refused at submission, a 422 naming the field; what only the
source shows (a fit box, a long or tall video) fails the job permanently with OutputTooLarge, before
anything is written. Through the running stack (gateway + imaging) with files under its MEDIA_ROOT.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from jobcommon.requests.imaging import (
    MAX_JOB_OUTPUT_PIXELS,
    MAX_OUTPUT_PIXELS,
    MAX_TILE_HEIGHT,
    ImageResizeRequest,
)
from tests.support.images import write_video
from tests.support.stack_jobs import failed_permanently, fresh_folder

if TYPE_CHECKING:
    import httpx

    from tests.conftest import Stack


# -- too large by the request alone ---------------------------------------------------------------------


async def _rejected(api: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await api.post("/jobs/submit", json=body)
    assert response.status_code == 422, response.text
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def _names(errors: list[dict[str, Any]], *path: object) -> bool:
    """Whether an error's location ends with `path` (the field the client has to change)."""
    return any(tuple(error["loc"][-len(path) :]) == path for error in errors)


async def test_outputs_too_large_by_the_request_alone_are_refused_at_submission(
    api: httpx.AsyncClient,
) -> None:
    """16 fill specs of 10000×10000 (100 MP each) → 422 naming each spec; six 6000×6000 pads (36 MP each,
    216 MP together) → 422 naming `specs`."""
    huge = [{"width": 10_000, "height": 10_000, "mode": "fill", "name": f"s{i}"} for i in range(16)]
    errors = await _rejected(api, {"job_type": "image_resize", "sources": ["a.png"], "specs": huge})
    assert all(_names(errors, "specs", i) for i in range(16)), errors
    assert str(MAX_OUTPUT_PIXELS) in str(errors)

    many = [{"width": 6000, "height": 6000, "mode": "pad", "name": f"p{i}"} for i in range(6)]
    errors = await _rejected(api, {"job_type": "image_resize", "sources": ["a.png"], "specs": many})
    assert _names(errors, "specs"), errors
    assert str(MAX_JOB_OUTPUT_PIXELS) in str(errors)


def test_what_the_request_cannot_know_is_not_refused_at_submission() -> None:
    """A fit box is a bound, not a size; five 6000×6000 fills (180 MP) are within the caps."""
    fit = [{"width": 10_000, "height": 10_000, "mode": "fit", "upscale": True}]
    assert (
        ImageResizeRequest.model_validate({"sources": ["a.png"], "specs": fit}).specs[0].exact_pixels is None
    )
    five = [{"width": 6000, "height": 6000, "mode": "fill", "name": f"f{i}"} for i in range(5)]
    ImageResizeRequest.model_validate({"sources": ["a.png"], "specs": five})
    with pytest.raises(ValidationError, match="per image"):
        ImageResizeRequest.model_validate(
            {"sources": ["a.png"], "specs": [{"width": 10_000, "height": 4001, "mode": "pad"}]}
        )


# -- too large for the source ---------------------------------------------------------------------------


async def test_outputs_too_large_for_their_source_fail_permanently(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    """Caps only the source can break fail the job permanently with OutputTooLarge, before anything is
    written: a fit box enlarging a 1×1 PNG to 81 MP; six 36 MP fits (216 MP); storyboard tiles of a tall
    video (160 px wide → 1200 px tall); a storyboard of 150 tiles of 1440×1080 (233 MP)."""
    folder = fresh_folder(stack.media_root, "caps")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(stack.media_root / folder / "dot.png")
    tall = np.full((240, 32, 3), 128, dtype=np.uint8)
    write_video(stack.media_root / folder / "tall.mp4", 10, 5, (32, 240), lambda _i: tall)
    wide = np.full((240, 320, 3), 64, dtype=np.uint8)
    write_video(stack.media_root / folder / "long.mp4", 75, 5, (320, 240), lambda _i: wide)
    dot, narrow, long = (f"{folder}/{name}" for name in ("dot.png", "tall.mp4", "long.mp4"))
    fits = [{"width": 6000, "height": 6000, "upscale": True, "name": f"f{i}"} for i in range(6)]
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "job_type": "image_resize",
                "sources": [dot],
                "specs": [{"width": 10_000, "height": 9000, "upscale": True}],
            },
            f"at most {MAX_OUTPUT_PIXELS} per image",
        ),
        (
            {"job_type": "image_resize", "sources": [dot], "specs": fits},
            f"at most {MAX_JOB_OUTPUT_PIXELS} per job",
        ),
        ({"job_type": "storyboard", "sources": [narrow], "tile_width": 160}, f"at most {MAX_TILE_HEIGHT}"),
        (
            {
                "job_type": "storyboard",
                "sources": [long],
                "interval_s": 0.1,
                "tile_width": 1440,
                "columns": 11,
            },
            f"at most {MAX_JOB_OUTPUT_PIXELS} per job",
        ),
    ]
    jobs = await asyncio.gather(*(failed_permanently(api, body) for body, _text in cases))
    for (body, text), job in zip(cases, jobs, strict=True):
        assert job["error"]["type"] == "OutputTooLarge", (body, job["error"])
        assert text in job["error"]["message"], (body, job["error"])
        assert not (stack.media_root / job["task_id"]).exists(), "nothing was written"
