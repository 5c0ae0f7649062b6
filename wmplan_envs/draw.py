"""Tiny NumPy drawing helpers for headless ``rgb_array`` rendering (no display, no extra deps)."""

from __future__ import annotations

import numpy as np


def canvas(size: int, color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A blank ``[size, size, 3]`` uint8 image."""
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = color
    return img


def disc(img: np.ndarray, x: float, y: float, radius: float, color: tuple[int, int, int]) -> None:
    """Fill a disc centred at pixel ``(x, y)`` (x = column, y = row), clipped to the image."""
    h, w = img.shape[:2]
    r = int(np.ceil(radius))
    x0, x1 = max(int(x) - r, 0), min(int(x) + r + 1, w)
    y0, y1 = max(int(y) - r, 0), min(int(y) + r + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    mask = (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
    img[y0:y1, x0:x1][mask] = color


def cross(img: np.ndarray, x: float, y: float, half: int, color: tuple[int, int, int]) -> None:
    """Draw an axis-aligned plus sign of half-width ``half`` pixels, 3 pixels thick."""
    h, w = img.shape[:2]
    xi, yi = int(round(x)), int(round(y))
    img[max(yi - 1, 0) : min(yi + 2, h), max(xi - half, 0) : min(xi + half + 1, w)] = color
    img[max(yi - half, 0) : min(yi + half + 1, h), max(xi - 1, 0) : min(xi + 2, w)] = color


def to_pixel(value: np.ndarray, low: float, high: float, size: int) -> np.ndarray:
    """Map coordinates in ``[low, high]`` to pixel coordinates in ``[0, size)``."""
    return (np.asarray(value, dtype=np.float64) - low) / (high - low) * (size - 1)
