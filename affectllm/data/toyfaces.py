"""Procedural FACS faces: the embedded default data set that runs anywhere.

`render_face` draws a stylised frontal face from Facial Action Unit (AU) intensities with PIL, and
`generate_toyfaces` writes a labelled data set of them in the canonical schema::

    OUT/images/toyfaces-00000.png ...
    OUT/train.jsonl  OUT/validation.jsonl  OUT/test.jsonl     (image paths relative to OUT)

With ``video_frames`` > 0 each sample is a short clip instead, ``OUT/videos/toyfaces-00000.mp4``
(PyAV, MPEG-4, `VIDEO_FPS` frames a second): the same face moving from neutral to the expression,
the AU intensities ramped linearly over the frames (`render_clip`).

Each emotion is an EMFACS prototype (`EMFACS_PROTOTYPES`). The features that define an emotion are
drawn large, thick and high-contrast (brows, eyes, mouth, nose wrinkles, cheeks) so that they survive
downsampling to 56 px and a tiny vision-language model can learn them on a CPU in minutes; the
nuisance variation (face shape, skin tone, hair, position, scale, a small rotation, background, AU
intensity, an occasional extra AU) is kept smaller than the signal.

Determinism: every sample draws from its own `random.Random` seeded from ``(seed, index)``, PNGs are
written without timestamps, and JSONL rows are written in index order, so the same seed gives
byte-identical files whatever the number of worker processes.

Rendering is supersampled (drawn at 2x, box-filtered down), about 1-2 ms a face on one core.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from affectllm.data.schema import make_sample
from affectllm.io import ensure_output_dir, output_errors, write_jsonl
from affectllm.progress import progress
from rewards.aus import AU_NAMES, au_number

SOURCE = "toyfaces"
SPLITS = ("train", "validation", "test")
QUESTION = ("What emotion does this face show? Describe the facial action units you see, then "
            "answer with one emotion word.")

#: EMFACS prototypes (Ekman & Friesen; Facial-R1 label set). Contempt is unilateral 12+14.
EMFACS_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "anger": ("AU4", "AU5", "AU7", "AU23"),
    "contempt": ("AU12", "AU14"),
    "disgust": ("AU9", "AU15", "AU16"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU20", "AU26"),
    "happiness": ("AU6", "AU12"),
    "neutral": (),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU5", "AU26"),
}
EMOTIONS: tuple[str, ...] = tuple(EMFACS_PROTOTYPES)
UNILATERAL_EMOTIONS = frozenset({"contempt"})

#: AUs the renderer draws.
RENDERED_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12",
                                 "AU14", "AU15", "AU16", "AU17", "AU20", "AU23", "AU24", "AU25",
                                 "AU26")
#: Occasional extra AUs that do not change which prototype a face shows.
EXTRA_AUS: tuple[str, ...] = ("AU7", "AU17", "AU25")
EXTRA_AU_PROBABILITY = 0.2

#: How the templated reasoning describes each AU (Facial-R1 style).
AU_PHRASES: dict[str, str] = {
    "AU1": "the inner brows are raised",
    "AU2": "the outer brows are raised",
    "AU4": "the brows are lowered and drawn together",
    "AU5": "the upper eyelids are raised, widening the eyes",
    "AU6": "the cheeks are raised",
    "AU7": "the eyelids are tightened",
    "AU9": "the nose is wrinkled",
    "AU10": "the upper lip is raised",
    "AU12": "the lip corners are pulled up",
    "AU14": "the lip corners are tightened into dimples",
    "AU15": "the lip corners are pulled down",
    "AU16": "the lower lip is pulled down",
    "AU17": "the chin is raised",
    "AU20": "the lips are stretched sideways",
    "AU23": "the lips are tightened",
    "AU24": "the lips are pressed together",
    "AU25": "the lips are parted",
    "AU26": "the jaw is dropped",
}

_SKIN = ((255, 224, 196), (241, 194, 150), (224, 172, 128), (198, 134, 94), (160, 104, 70),
         (132, 88, 62))
_HAIR = ((30, 24, 20), (70, 46, 28), (120, 84, 48), (178, 140, 90), (110, 110, 110))
_IRIS = ((60, 40, 25), (40, 70, 110), (50, 90, 60), (90, 60, 30))
_SUPERSAMPLE = 2
_INK = (25, 18, 16)


@dataclass(frozen=True)
class FaceParams:
    """Identity and scene of one face (everything except the expression)."""

    face_w: float = 0.34       # face half-width, fraction of the canvas
    face_h: float = 0.42       # face half-height, fraction of the canvas
    dx: float = 0.0            # centre offset, fraction of the canvas
    dy: float = 0.02
    angle: float = 0.0         # degrees, counter-clockwise
    skin: tuple[int, int, int] = _SKIN[1]
    hair: tuple[int, int, int] | None = _HAIR[1]
    hairline: float = 0.55     # 0 (bald) .. 1 (low fringe)
    iris: tuple[int, int, int] = _IRIS[0]
    eye_gap: float = 1.0       # spacing of the eyes, relative
    background: tuple[int, int, int] = (170, 190, 210)
    background2: tuple[int, int, int] = (200, 210, 220)
    gradient: bool = False

    @classmethod
    def random(cls, rng: random.Random, variation: float = 1.0) -> FaceParams:
        """Draw a random identity and scene. `variation` in [0, 1] scales every nuisance factor
        towards the default face: 1 draws the full range, 0 gives one fixed identity and scene
        (the expression still varies), which a tiny model learns in a couple of CPU minutes."""
        drawn = cls._draw(rng)
        if variation >= 1:
            return drawn
        base, v = cls(), max(0.0, variation)
        mix = lambda a, b: a + (b - a) * v  # noqa: E731
        mix_rgb = lambda a, b: tuple(round(mix(x, y)) for x, y in zip(a, b))  # noqa: E731
        return cls(face_w=mix(base.face_w, drawn.face_w), face_h=mix(base.face_h, drawn.face_h),
                   dx=mix(base.dx, drawn.dx), dy=mix(base.dy, drawn.dy),
                   angle=mix(base.angle, drawn.angle), skin=mix_rgb(base.skin, drawn.skin),
                   hair=base.hair if v < 0.5 or drawn.hair is None else
                   mix_rgb(base.hair, drawn.hair),
                   hairline=mix(base.hairline, drawn.hairline),
                   iris=base.iris if v < 0.5 else drawn.iris,
                   eye_gap=mix(base.eye_gap, drawn.eye_gap),
                   background=mix_rgb(base.background, drawn.background),
                   background2=mix_rgb(base.background2, drawn.background2),
                   gradient=drawn.gradient and v >= 0.5)

    @classmethod
    def _draw(cls, rng: random.Random) -> FaceParams:
        scale = rng.uniform(0.86, 1.04)
        skin = _jitter(rng.choice(_SKIN), rng, 10)
        bg = tuple(rng.randint(60, 235) for _ in range(3))
        bg2 = _jitter(bg, rng, 40)
        return cls(
            face_w=0.34 * scale * rng.uniform(0.9, 1.06),
            face_h=0.41 * scale * rng.uniform(0.94, 1.06),
            dx=rng.uniform(-0.05, 0.05), dy=rng.uniform(-0.03, 0.05),
            angle=rng.uniform(-8.0, 8.0),
            skin=skin,
            hair=None if rng.random() < 0.12 else _jitter(rng.choice(_HAIR), rng, 12),
            hairline=rng.uniform(0.35, 0.75),
            iris=rng.choice(_IRIS),
            eye_gap=rng.uniform(0.92, 1.08),
            background=bg, background2=bg2, gradient=rng.random() < 0.5,
        )


def _jitter(color: Sequence[int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)  # type: ignore[return-value]


def _shade(color: Sequence[int], factor: float, tint: Sequence[int] = (0, 0, 0),
           mix: float = 0.0) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * factor * (1 - mix) + t * mix)))  # type: ignore[return-value]
                 for c, t in zip(color, tint))


def _lr(value: float | Sequence[float]) -> tuple[float, float]:
    """An AU intensity as (image-left, image-right); a scalar is bilateral."""
    if isinstance(value, (int, float)):
        v = float(value)
        return v, v
    left, right = value
    return float(left), float(right)


def _bezier(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float],
            n: int = 10) -> list[tuple[float, float]]:
    """Quadratic curve from p0 to p2 that passes through p1 at its middle."""
    cx, cy = 2 * p1[0] - (p0[0] + p2[0]) / 2, 2 * p1[1] - (p0[1] + p2[1]) / 2
    pts = []
    for k in range(n + 1):
        t = k / n
        a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t * t
        pts.append((a * p0[0] + b * cx + c * p2[0], a * p0[1] + b * cy + c * p2[1]))
    return pts


class _Canvas:
    """Face-relative drawing: u in [-1, 1] across the face, v in [-1, 1] down it, rotated by
    `angle` about the face centre; widths in units of the face half-width. Rotating coordinates
    (not pixels) keeps rendering cheap; small ellipses keep their axes, which at +-8 degrees is
    invisible."""

    def __init__(self, img: Image.Image, cx: float, cy: float, rx: float, ry: float,
                 angle: float = 0.0):
        self.img, self.draw = img, ImageDraw.Draw(img)
        self.cx, self.cy, self.rx, self.ry = cx, cy, rx, ry
        self.cos, self.sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def p(self, u: float, v: float) -> tuple[float, float]:
        x, y = u * self.rx, v * self.ry
        return self.cx + x * self.cos + y * self.sin, self.cy - x * self.sin + y * self.cos

    def w(self, width: float) -> int:
        return max(1, round(width * self.rx))

    def line(self, pts: Sequence[tuple[float, float]], color, width: float) -> None:
        xy = [self.p(u, v) for u, v in pts]
        w = self.w(width)
        self.draw.line(xy, fill=color, width=w, joint="curve")
        r = w / 2  # round caps
        for x, y in (xy[0], xy[-1]):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=color)

    def polygon(self, pts: Sequence[tuple[float, float]], color) -> None:
        self.draw.polygon([self.p(u, v) for u, v in pts], fill=color)

    def ellipse(self, u: float, v: float, a: float, b: float, color, outline=None,
                width: float = 0.0) -> None:
        """Ellipse centred at (u, v) with half-axes a (x) and b (y), both in face half-widths."""
        x, y = self.p(u, v)
        ax, by = a * self.rx, b * self.rx
        self.draw.ellipse((x - ax, y - by, x + ax, y + by), fill=color, outline=outline,
                          width=self.w(width) if outline else 0)


def render_face(aus: Mapping[str, float | Sequence[float]],
                params: FaceParams | random.Random | int | None = None,
                size: int = 112) -> Image.Image:
    """Draw a stylised frontal face showing `aus` (``{"AU12": 0.8}``; intensity 0..1, or a
    ``(image_left, image_right)`` pair for a unilateral action) and return an RGB image.

    `params` is the identity and scene: a `FaceParams`, or a `random.Random` / int seed to draw one,
    or None for the default face. Unknown or unrendered AU codes are ignored.
    """
    if not isinstance(params, FaceParams):
        params = FaceParams() if params is None else FaceParams.random(
            params if isinstance(params, random.Random) else random.Random(params))
    a = {k: _lr(v) for k, v in aus.items() if k in RENDERED_AUS}

    def i(code: str) -> float:  # bilateral intensity (mean of both sides)
        left, right = a.get(code, (0.0, 0.0))
        return (left + right) / 2

    big = size * _SUPERSAMPLE
    img = _background(params, big)
    c = _Canvas(img, big * (0.5 + params.dx), big * (0.5 + params.dy), big * params.face_w,
                big * params.face_h, params.angle)

    _draw_head(c, params, jaw=i("AU26"))
    _draw_cheeks(c, params, a)
    _draw_eyes(c, params, a)
    _draw_brows(c, params, a)
    _draw_nose(c, params, i("AU9"), i("AU10"))
    _draw_mouth(c, params, a)
    return img.reduce(_SUPERSAMPLE)


def _background(params: FaceParams, big: int) -> Image.Image:
    top = Image.new("RGB", (big, big), params.background)
    if params.gradient:
        top.paste(params.background2, (0, 0, big, big), _vertical_ramp(big))
    return top


@functools.lru_cache(maxsize=8)
def _vertical_ramp(big: int) -> Image.Image:
    return Image.linear_gradient("L").resize((big, big))


def _draw_head(c: _Canvas, p: FaceParams, jaw: float) -> None:
    skin, outline = p.skin, _shade(p.skin, 0.55)
    chin = 1.0 + 0.1 * jaw
    if p.hair is not None:  # hair behind the head
        c.polygon([(1.1 * math.cos(t), -0.12 + math.sin(t)) for t in
                   (2 * math.pi * k / 32 for k in range(32))], p.hair)
    for side in (-1, 1):  # ears
        c.ellipse(side * 0.98, -0.02, 0.14, 0.22, skin, outline, 0.03)
    pts = [(math.cos(t), math.sin(t) * (chin if math.sin(t) > 0 else 1.0))
           for t in (2 * math.pi * k / 48 for k in range(48))]
    c.polygon(pts, skin)
    c.draw.line([c.p(u, v) for u, v in pts + pts[:1]], fill=outline, width=c.w(0.035))
    if p.hair is not None:  # fringe down to the hairline
        top = -1.0 + 0.45 * p.hairline
        fringe = [(math.cos(t), math.sin(t)) for t in (math.pi + math.pi * k / 24 for k in range(25))
                  if math.sin(t) <= top]
        if len(fringe) >= 2:
            u0 = fringe[0][0]
            c.polygon(fringe + [(-u0, top), (u0, top)], p.hair)


def _draw_cheeks(c: _Canvas, p: FaceParams, a: dict[str, tuple[float, float]]) -> None:
    au6 = a.get("AU6", (0.0, 0.0))
    au14 = a.get("AU14", (0.0, 0.0))
    for k, side in enumerate((-1, 1)):
        lift = au6[k]
        if lift > 0.05:  # raised, rounded cheeks
            color = _shade(p.skin, 0.78, (200, 40, 50), 0.35 * lift)
            c.ellipse(side * 0.5, 0.24 - 0.08 * lift, 0.2 + 0.05 * lift, 0.14 + 0.04 * lift, color)
        if au14[k] > 0.05:  # dimple next to the mouth corner
            c.ellipse(side * 0.47, 0.55, 0.04 + 0.035 * au14[k], 0.06 + 0.04 * au14[k],
                      _shade(p.skin, 0.45))


def _draw_eyes(c: _Canvas, p: FaceParams, a: dict[str, tuple[float, float]]) -> None:
    whites, irises, lids = [], [], []
    n = 16
    for k, side in enumerate((-1, 1)):
        au5, au6, au7 = (a.get(x, (0.0, 0.0))[k] for x in ("AU5", "AU6", "AU7"))
        ex, ey, ew = side * 0.38 * p.eye_gap, -0.1, 0.2
        up = max(0.04, 0.1 + 0.1 * au5 - 0.04 * au7 - 0.03 * au6)   # upper lid height
        lo = max(0.02, 0.08 - 0.045 * au7 - 0.05 * au6)            # lower lid height
        arc = [(ex + ew * math.cos(math.pi * t / n), math.sin(math.pi * t / n) * c.rx / c.ry)
               for t in range(n + 1)]
        upper = [(u, ey - up * s) for u, s in arc]
        lower = [(u, ey + lo * s) for u, s in arc]
        whites.append([c.p(u, v) for u, v in upper + lower[::-1]])
        irises.append(c.p(ex, ey + 0.005))
        lids.append((upper, lower, au6, (ex + side * ew, ey)))
    # Whites, then iris and pupil clipped to the whites, on masks the size of the eye region only.
    xs = [x for poly in whites for x, _ in poly]
    ys = [y for poly in whites for _, y in poly]
    x0, y0 = int(min(xs)) - 1, int(min(ys)) - 1
    box = (x0, y0, int(max(xs)) + 2, int(max(ys)) + 2)
    size = (box[2] - x0, box[3] - y0)
    masks = [Image.new("L", size, 0) for _ in range(3)]
    draws = [ImageDraw.Draw(m) for m in masks]
    for poly, (x, y) in zip(whites, irises):
        draws[0].polygon([(px - x0, py - y0) for px, py in poly], fill=255)
        for draw, r in ((draws[1], 0.085 * c.rx), (draws[2], 0.04 * c.rx)):
            draw.ellipse((x - x0 - r, y - y0 - r, x - x0 + r, y - y0 + r), fill=255)
    c.img.paste((250, 250, 248), box, masks[0])
    c.img.paste(p.iris, box, ImageChops.multiply(masks[0], masks[1]))
    c.img.paste((5, 5, 5), box, ImageChops.multiply(masks[0], masks[2]))
    for upper, lower, au6, (ox, oy) in lids:
        c.line(upper, _INK, 0.06)
        c.line(lower, _shade(p.skin, 0.5), 0.025)
        if au6 > 0.3:  # crow's feet at the outer corner
            s = 1 if ox > 0 else -1
            for dv in (-0.05, 0.0, 0.05):
                c.line([(ox + s * 0.05, oy + dv * 0.6), (ox + s * 0.12, oy + dv * 1.6)],
                       _shade(p.skin, 0.55), 0.018)


def _draw_brows(c: _Canvas, p: FaceParams, a: dict[str, tuple[float, float]]) -> None:
    color = p.hair if p.hair is not None else _shade(p.skin, 0.4)
    color = _shade(color, 0.6)  # brows always darker than the hair, for contrast
    for k, side in enumerate((-1, 1)):
        au1, au2, au4 = (a.get(x, (0.0, 0.0))[k] for x in ("AU1", "AU2", "AU4"))
        base = -0.36
        inner = (side * (0.14 - 0.05 * au4), base + 0.16 * au4 - 0.3 * au1)
        mid = (side * 0.34, base - 0.04 + 0.1 * au4 - 0.1 * au1 - 0.12 * au2)
        outer = (side * 0.56, base + 0.03 + 0.03 * au4 - 0.2 * au2)
        c.line(_bezier(inner, mid, outer, 8), color, 0.13)
    au4 = sum(a.get("AU4", (0.0, 0.0))) / 2
    if au4 > 0.2:  # vertical furrows between knitted brows
        for du in (-0.04, 0.04):
            c.line([(du, -0.32), (du * 0.7, -0.2)], _shade(p.skin, 0.5), 0.025)


def _draw_nose(c: _Canvas, p: FaceParams, au9: float, au10: float) -> None:
    line = _shade(p.skin, 0.55)
    lift = 0.05 * au9 + 0.03 * au10
    tip = 0.24 - lift
    c.line([(0.04, -0.02), (0.08, tip - 0.04), (0.02, tip)], line, 0.03)
    flare = 0.09 + 0.04 * au9
    for side in (-1, 1):
        c.ellipse(side * flare * 0.6, tip - 0.005, 0.035 + 0.015 * au9, 0.025, _shade(p.skin, 0.35))
    if au9 > 0.05:  # wrinkles across the bridge
        wrinkle = _shade(p.skin, 0.4)
        for v in (-0.02, 0.05, 0.12)[: 1 + round(2 * au9)]:
            c.line([(-0.1, v + 0.02), (0.0, v), (0.1, v + 0.02)], wrinkle, 0.035)


def _draw_mouth(c: _Canvas, p: FaceParams, a: dict[str, tuple[float, float]]) -> None:
    def side(code: str, k: int) -> float:
        return a.get(code, (0.0, 0.0))[k]

    def mean(code: str) -> float:
        return (side(code, 0) + side(code, 1)) / 2

    jaw, part = mean("AU26"), mean("AU25")
    y0 = 0.52 + 0.06 * jaw
    corners = []
    for k, s in enumerate((-1, 1)):
        au12, au14, au15, au20 = (side(x, k) for x in ("AU12", "AU14", "AU15", "AU20"))
        half = 0.3 + 0.1 * au12 - 0.05 * au14 + 0.16 * au20 - 0.04 * mean("AU24") - 0.1 * jaw * (
            1 - au20)
        lift = 0.24 * au12 + 0.05 * au14 - 0.22 * au15 - 0.02 * au20
        corners.append((s * half, y0 - lift))
    left, right = corners
    _draw_mouth_creases(c, p, a, corners)
    au10, au16, au17 = mean("AU10"), mean("AU16"), mean("AU17")
    thin = 1.0 - 0.55 * max(mean("AU23"), mean("AU24"))
    gap = 0.06 * part + 0.34 * jaw * (1 - 0.45 * mean("AU20")) + 0.06 * au10 + 0.1 * au16
    gap = max(0.0, gap - 0.05 * au17)
    centre_up = y0 - 0.04 * au10 - gap * 0.35
    centre_lo = y0 - 0.03 * au17 + gap * 0.65
    lip = _shade(p.skin, 0.62, (150, 40, 50), 0.35)
    up_th, lo_th = 0.06 * thin, 0.08 * thin

    if gap < 0.02:  # closed mouth: lips around one thick line
        mid = (0.0, y0 - 0.02 * au10 + 0.03 * au17)
        c.polygon(_bezier(left, (0, mid[1] - up_th), right) + _bezier(right, (0, mid[1] + lo_th), left),
                  lip)
        c.line(_bezier(left, mid, right), _INK, 0.07)
        return
    outer = _bezier(left, (0, centre_up - up_th), right) + _bezier(right, (0, centre_lo + lo_th), left)
    inner_up = _bezier(left, (0, centre_up), right)
    inner_lo = _bezier(right, (0, centre_lo), left)
    c.polygon(outer, lip)
    c.polygon(inner_up + inner_lo, (45, 12, 16))
    if au10 > 0.2 or mean("AU12") > 0.2 or au16 > 0.2:  # teeth show
        teeth = _bezier(left, (0, centre_up + 0.045 + 0.03 * au10), right)
        c.polygon(inner_up + teeth[::-1], (245, 242, 232))
        if au16 > 0.2:
            low = _bezier(right, (0, centre_lo - 0.04), left)
            c.polygon(inner_lo + low[::-1], (245, 242, 232))
    c.line(outer + outer[:1], _INK, 0.05)


def _draw_mouth_creases(c: _Canvas, p: FaceParams, a: dict[str, tuple[float, float]],
                        corners: list[tuple[float, float]]) -> None:
    """Nasolabial folds deepened by AU12 (and AU10), and the down-turned creases of AU15."""
    crease = _shade(p.skin, 0.5)
    for k, (u, v) in enumerate(corners):
        s = 1 if u > 0 else -1
        pull = max(a.get("AU12", (0.0, 0.0))[k], a.get("AU10", (0.0, 0.0))[k])
        if pull > 0.2:
            c.line(_bezier((s * 0.2, 0.22), (s * 0.36, 0.3 + 0.5 * (v - 0.3)),
                           (u + s * 0.08, v + 0.02), 6), crease, 0.035 + 0.02 * pull)
        down = a.get("AU15", (0.0, 0.0))[k]
        if down > 0.2:
            c.line([(u + s * 0.01, v + 0.03), (u + s * 0.06, v + 0.06 + 0.1 * down)], crease,
                   0.035 + 0.02 * down)


# --------------------------------------------------------------------------------- the data set

def sample_expression(emotion: str, rng: random.Random) -> tuple[dict[str, float | tuple], list[str]]:
    """AU intensities for one face of `emotion` (prototype AUs at 0.6-1.0, maybe one extra AU at
    0.3-0.6; unilateral actions as (left, right)) and the canonical list of active AUs."""
    if emotion not in EMFACS_PROTOTYPES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    aus: dict[str, float | tuple] = {au: round(rng.uniform(0.6, 1.0), 2)
                                     for au in EMFACS_PROTOTYPES[emotion]}
    if emotion in UNILATERAL_EMOTIONS:
        right = rng.random() < 0.5
        aus = {au: (0.0, v) if right else (v, 0.0) for au, v in aus.items()}
    if rng.random() < EXTRA_AU_PROBABILITY:
        extra = rng.choice([au for au in EXTRA_AUS if au not in aus])
        aus[extra] = round(rng.uniform(0.3, 0.6), 2)
    return aus, sorted(aus, key=au_number)


REASONING_STYLES = ("sentences", "codes")


def describe(emotion: str, aus: Mapping[str, float | tuple], style: str = "sentences") -> str:
    """Templated Facial-R1 style reasoning (the text inside ``<think>``): ``sentences`` describes
    each movement with its AU code; ``codes`` only lists the codes (``AU6 AU12``; ``none``), a
    short target that small models learn and generate quickly."""
    if style == "codes":
        return " ".join(sorted(aus, key=au_number)) or "none"
    if not aus:
        return ("The brows, eyes and mouth are relaxed and no action unit is active, so the "
                f"expression is {emotion}.")
    parts = []
    for au in sorted(aus, key=au_number):
        value = aus[au]
        phrase = AU_PHRASES.get(au, AU_NAMES.get(au, au))
        if not isinstance(value, (int, float)):
            phrase += " on one side only"
            value = max(value)
        if value < 0.5:
            phrase = re.sub(r" (is|are) ", r" \1 slightly ", phrase, count=1)
        parts.append(f"{phrase} ({au})")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (f"{listed[0].upper()}{listed[1:]}. Together these movements form the prototype of "
            f"{emotion}.")


#: Frame rate of the toy clips.
VIDEO_FPS = 4


def render_clip(aus: Mapping[str, float | Sequence[float]], params: FaceParams | None,
                size: int, frames: int) -> list[Image.Image]:
    """`frames` faces from neutral (first) to `aus` at full intensity (last), linearly."""
    def scaled(value: float | Sequence[float], t: float) -> float | tuple:
        return tuple(v * t for v in value) if isinstance(value, (tuple, list)) else value * t

    steps = [k / (frames - 1) if frames > 1 else 1.0 for k in range(frames)]
    return [render_face({code: scaled(v, t) for code, v in aus.items()}, params, size)
            for t in steps]


def write_clip(path: str | Path, frames: Sequence[Image.Image], fps: int = VIDEO_FPS) -> None:
    """Encode RGB frames as an MPEG-4 video with PyAV."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt, stream.bit_rate = "yuv420p", 4_000_000
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())


def _emotion_plan(sizes: Sequence[int], seed: int) -> list[str]:
    """Labels balanced within each split (sizes in `SPLITS` order), in a seeded order."""
    rng, labels = random.Random(f"toyfaces-order-{seed}"), []
    for size in sizes:
        part = [EMOTIONS[k % len(EMOTIONS)] for k in range(size)]
        rng.shuffle(part)
        labels += part
    return labels


def _split_sizes(n: int, splits: Sequence[float]) -> list[int]:
    if len(splits) != len(SPLITS) or any(s < 0 for s in splits) or sum(splits) <= 0:
        raise ValueError(f"splits must be three non-negative fractions, got {tuple(splits)}")
    total = sum(splits)
    sizes = [int(n * s / total) for s in splits]
    sizes[0] += n - sum(sizes)
    return sizes


def _make_one(job: tuple[int, str, str, int, int, str, float, str, int]) -> dict:
    """Render and write one face (or clip); return its canonical sample (runs in a worker
    process)."""
    index, emotion, split, seed, size, out, variation, style, frames = job
    rng = random.Random(f"toyfaces-{seed}-{index}")
    params = FaceParams.random(rng, variation)
    aus, active = sample_expression(emotion, rng)
    sample_id = f"toyfaces-{index:05d}"
    # Plain writes (no temp file, no fsync): the split files, written atomically at the end, are
    # what makes the data set, and a rerun rewrites every image.
    if frames:
        rel, kind = f"videos/{sample_id}.mp4", "video"
        write_clip(Path(out) / rel, render_clip(aus, params, size, frames))
    else:
        rel, kind = f"images/{sample_id}.png", "image"
        render_face(aus, params, size).save(Path(out) / rel, format="PNG", compress_level=6)
    think = describe(emotion, aus, style)
    meta = {"intensity": {k: (list(v) if isinstance(v, tuple) else v) for k, v in aus.items()},
            "face": {k: round(v, 4) if isinstance(v, float) else v
                     for k, v in asdict(params).items()}, "split": split}
    return make_sample(sample_id, SOURCE, media=[{"type": kind, "path": rel}],
                       question=QUESTION, labels=[emotion], aus=active, reasoning=think,
                       answer=emotion, meta=meta)


def generate_toyfaces(out: str | Path, n: int = 4000, seed: int = 0, size: int = 112,
                      splits: Sequence[float] = (0.8, 0.1, 0.1),
                      workers: int | None = None, variation: float = 1.0,
                      reasoning: str = "sentences", video_frames: int = 0) -> dict[str, Path]:
    """Write `n` procedural faces to `out` (images under ``out/images``, one JSONL per split) and
    return ``{split: path}``. Same arguments give byte-identical files. One process renders about
    300 faces a second; `workers` > 1 uses a process pool, which changes speed only (never output)
    and pays off only on idle cores. `variation` scales face shape, skin, position, rotation and
    background from none (0) to the full range (1, the default); see `FaceParams.random`.
    `reasoning` is the style of the templated reasoning (`describe`). `video_frames` > 0 writes
    clips of that many frames (neutral -> expression) under ``out/videos`` instead of images."""
    if not 0 <= variation <= 1:
        raise ValueError("variation must lie in [0, 1]")
    if reasoning not in REASONING_STYLES:
        raise ValueError(f"reasoning must be one of {', '.join(REASONING_STYLES)}")
    if n < 1:
        raise ValueError("n must be at least 1")
    if size < 32:
        raise ValueError("size must be at least 32 pixels")
    if video_frames < 0 or (video_frames and size % 2):
        raise ValueError("video_frames must be >= 0, and clips need an even size")
    out = ensure_output_dir(out)
    media = out / ("videos" if video_frames else "images")
    with output_errors(media):
        media.mkdir(exist_ok=True)
    sizes = _split_sizes(n, splits)
    split_of = [name for name, count in zip(SPLITS, sizes) for _ in range(count)]
    jobs = [(k, emotion, split_of[k], seed, size, str(out), variation, reasoning, video_frames)
            for k, emotion in enumerate(_emotion_plan(sizes, seed))]
    workers = max(1, workers or 1)
    bar = dict(desc="rendering faces", total=n, unit="face")
    if workers > 1:
        import multiprocessing

        with multiprocessing.Pool(workers) as pool:
            samples = list(progress(pool.imap(_make_one, jobs, chunksize=32), **bar))
    else:
        samples = list(progress(map(_make_one, jobs), **bar))
    paths, start = {}, 0
    for split, count in zip(SPLITS, sizes):
        paths[split] = out / f"{split}.jsonl"
        write_jsonl(paths[split], samples[start:start + count])
        start += count
    return paths
