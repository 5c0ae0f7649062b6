"""Push-T geometry (the T, coverage, keypoints) and a headless NumPy rasteriser for its pictures.

Everything here is pure Python / NumPy: coverage clips convex polygons (the T is two rectangles),
pictures are filled polygons with ``supersample``-times supersampled anti-aliasing, drawn
straight at the target size (no 512 px canvas, no display, no pygame).
"""

from __future__ import annotations

import math

import numpy as np

CANVAS = 512.0
AGENT_RADIUS = 15.0
# The T in its body frame (origin = middle of the bar's outer edge; y down): bar and stem.
BAR = ((-60.0, 30.0), (60.0, 30.0), (60.0, 0.0), (-60.0, 0.0))
STEM = ((-15.0, 30.0), (-15.0, 120.0), (15.0, 120.0), (15.0, 30.0))
T_AREA = 120.0 * 30.0 + 30.0 * 90.0  # 6300
T_RADIUS = math.hypot(15.0, 120.0)  # farthest vertex from the origin
WALLS = (((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506)))
WALL_RADIUS = 2.0

BACKGROUND = (255, 255, 255)
WALL_COLOR = (211, 211, 211)  # LightGray
GOAL_COLOR = (144, 238, 144)  # LightGreen
BLOCK_COLOR = (119, 136, 153)  # LightSlateGray
AGENT_COLOR = (65, 105, 225)  # RoyalBlue


def t_pieces(x: float, y: float, angle: float) -> tuple[list, list]:
    """World vertices of the bar and the stem for the block pose ``(x, y, angle)``."""
    c, s = math.cos(angle), math.sin(angle)
    return (
        [(x + c * vx - s * vy, y + s * vx + c * vy) for vx, vy in BAR],
        [(x + c * vx - s * vy, y + s * vx + c * vy) for vx, vy in STEM],
    )


def keypoints(x: float, y: float, angle: float) -> np.ndarray:
    """The T's 8 corner vertices in world coordinates, ``[16]`` (bar's 4, then the stem's 4)."""
    bar, stem = t_pieces(x, y, angle)
    return np.array(bar + stem, dtype=np.float64).reshape(16)


def pose_from_keypoints(kp: np.ndarray) -> np.ndarray:
    """Invert :func:`keypoints` over leading dims: ``[..., 16] -> [..., 3] (x, y, angle)``."""
    v = np.asarray(kp, dtype=np.float64).reshape(*np.shape(kp)[:-1], 8, 2)
    right, left = v[..., 2, :], v[..., 3, :]  # (60, 0) and (-60, 0)
    origin = 0.5 * (right + left)
    angle = np.arctan2(right[..., 1] - left[..., 1], right[..., 0] - left[..., 0])
    return np.concatenate([origin, angle[..., None]], axis=-1)


def _clip(subject: list, clipper: list) -> list:
    """Sutherland-Hodgman: ``subject`` clipped by the convex ``clipper`` (the T's winding)."""
    out = subject
    n = len(clipper)
    for i in range(n):
        if not out:
            return out
        ax, ay = clipper[i]
        bx, by = clipper[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        points, out = out, []
        sx, sy = points[-1]
        s_side = ex * (sy - ay) - ey * (sx - ax)
        for px, py in points:
            p_side = ex * (py - ay) - ey * (px - ax)
            if p_side <= 0.0:  # inside (the T's pieces wind with the interior on this side)
                if s_side > 0.0:
                    t = s_side / (s_side - p_side)
                    out.append((sx + t * (px - sx), sy + t * (py - sy)))
                out.append((px, py))
            elif s_side <= 0.0:
                t = s_side / (s_side - p_side)
                out.append((sx + t * (px - sx), sy + t * (py - sy)))
            sx, sy, s_side = px, py, p_side
    return out


def _area(poly: list) -> float:
    total = 0.0
    for i in range(len(poly)):
        x0, y0 = poly[i - 1]
        x1, y1 = poly[i]
        total += x0 * y1 - x1 * y0
    return abs(total) * 0.5


def coverage(block_pose: tuple, goal_pose: tuple) -> float:
    """``area(goal T ∩ block T) / area(goal T)`` for two poses ``(x, y, angle)``."""
    bx, by, ba = (float(v) for v in block_pose)
    gx, gy, ga = (float(v) for v in goal_pose)
    if math.hypot(bx - gx, by - gy) >= 2.0 * T_RADIUS:
        return 0.0
    block, goal = t_pieces(bx, by, ba), t_pieces(gx, gy, ga)
    # the pieces of each T have disjoint interiors, so the areas of the piecewise overlaps add up
    inter = sum(_area(_clip(list(p), list(q))) for p in block for q in goal)
    return min(inter / T_AREA, 1.0)


class Rasteriser:
    """Draws Push-T scenes at ``size`` px with ``supersample``^2 samples per pixel."""

    def __init__(self, size: int, supersample: int = 2) -> None:
        self.size, self.ss = int(size), int(supersample)
        self.scale = self.size / CANVAS  # px per world unit
        self._background = self._walls()

    def _samples(self, lo: int, hi: int) -> np.ndarray:
        return (np.arange(lo * self.ss, hi * self.ss) + 0.5) / (self.ss * self.scale)

    def _window(self, xmin: float, xmax: float, ymin: float, ymax: float):
        s = self.scale
        j0, j1 = max(int(xmin * s), 0), min(int(math.ceil(xmax * s)) + 1, self.size)
        i0, i1 = max(int(ymin * s), 0), min(int(math.ceil(ymax * s)) + 1, self.size)
        return i0, i1, j0, j1

    def _blend(self, img: np.ndarray, mask: np.ndarray, window: tuple, color: tuple) -> None:
        i0, i1, j0, j1 = window
        h, w = i1 - i0, j1 - j0
        alpha = mask.reshape(h, self.ss, w, self.ss).mean(axis=(1, 3), dtype=np.float32)
        patch = img[i0:i1, j0:j1]
        patch += alpha[..., None] * (np.asarray(color, dtype=np.float32) - patch)

    def polygons(self, img: np.ndarray, polys: list, color: tuple) -> None:
        """Fill the union of convex polygons (world vertices, the T's winding)."""
        pts = np.array([v for p in polys for v in p])
        window = self._window(pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
        i0, i1, j0, j1 = window
        if i0 >= i1 or j0 >= j1:
            return
        ys, xs = self._samples(i0, i1)[:, None], self._samples(j0, j1)[None, :]
        mask = np.zeros((ys.shape[0], xs.shape[1]), dtype=bool)
        for poly in polys:
            inside = np.ones_like(mask)
            for k in range(len(poly)):
                (ax, ay), (bx, by) = poly[k], poly[(k + 1) % len(poly)]
                inside &= (bx - ax) * (ys - ay) - (by - ay) * (xs - ax) <= 0.0
            mask |= inside
        self._blend(img, mask, window, color)

    def disc(self, img: np.ndarray, x: float, y: float, radius: float, color: tuple) -> None:
        window = self._window(x - radius, x + radius, y - radius, y + radius)
        i0, i1, j0, j1 = window
        if i0 >= i1 or j0 >= j1:
            return
        ys, xs = self._samples(i0, i1)[:, None], self._samples(j0, j1)[None, :]
        self._blend(img, (xs - x) ** 2 + (ys - y) ** 2 <= radius * radius, window, color)

    def _walls(self) -> np.ndarray:
        img = np.empty((self.size, self.size, 3), dtype=np.float32)
        img[:] = BACKGROUND
        r = WALL_RADIUS
        for (ax, ay), (bx, by) in WALLS:
            x0, x1, y0, y1 = min(ax, bx) - r, max(ax, bx) + r, min(ay, by) - r, max(ay, by) + r
            box = [(x0, y1), (x1, y1), (x1, y0), (x0, y0)]
            self.polygons(img, [box], WALL_COLOR)
        return img

    def scene(self, agent: tuple, block_pose: tuple, goal_pose: tuple | None = None) -> np.ndarray:
        """``[size, size, 3]`` uint8: walls, the goal T (if given), the block, the agent."""
        img = self._background.copy()
        if goal_pose is not None:
            self.polygons(img, list(t_pieces(*goal_pose)), GOAL_COLOR)
        self.polygons(img, list(t_pieces(*block_pose)), BLOCK_COLOR)
        self.disc(img, agent[0], agent[1], AGENT_RADIUS, AGENT_COLOR)
        return (img + 0.5).astype(np.uint8)
