"""How sharp a video frame is: variance of the Laplacian on a 320 px wide greyscale copy.

Frames that are nearly black (mean < 15) or flat (standard deviation < 5) — fades, title cards, blank
frames — score a hundredth of their sharpness, so any frame with content beats them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

WIDTH = 320
BLACK_MEAN = 15.0
FLAT_STD = 5.0
PENALTY = 0.01


@dataclass(frozen=True, slots=True)
class Sharpness:
    laplacian_var: float
    flat: bool
    """Nearly black or without contrast."""

    @property
    def score(self) -> float:
        return self.laplacian_var * (PENALTY if self.flat else 1.0)


def measure(frame: npt.NDArray[np.uint8]) -> Sharpness:
    """Sharpness of a BGR (or grey) frame; independent of its resolution."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = grey.shape[:2]
    if width > WIDTH:
        grey = cv2.resize(grey, (WIDTH, max(1, round(height * WIDTH / width))), interpolation=cv2.INTER_AREA)
    mean, std = cv2.meanStdDev(grey)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    flat = float(mean[0][0]) < BLACK_MEAN or float(std[0][0]) < FLAT_STD
    return Sharpness(round(variance, 3), flat)
