"""A synthetic gallery of fossil-like pictures for demos, tests and benchmarks."""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CANVAS = 400  # fossils are drawn on a CANVAS x CANVAS layer, then shrunk (antialiasing)
Tone = Callable[[float], tuple[int, int, int, int]]
Drawer = Callable[[ImageDraw.ImageDraw, np.random.Generator, Tone], None]
Point = tuple[float, float]


def _polar(cx: float, cy: float, r: float, angle: float) -> Point:
    return (cx + r * math.cos(angle), cy + r * math.sin(angle))


def _box(cx: float, cy: float, rx: float, ry: float) -> tuple[float, float, float, float]:
    """Bounding box of an ellipse centred on (cx, cy) with radii rx, ry."""
    return (cx - rx, cy - ry, cx + rx, cy + ry)


def _leaf(start: Point, angle: float, length: float, width: float) -> list[Point]:
    """Polygon of a pointed leaf/petal growing from `start` in direction `angle`."""
    ux, uy = math.cos(angle), math.sin(angle)
    side, back = [], []
    for t in np.linspace(0.0, 1.0, 16):
        x, y = start[0] + ux * t * length, start[1] + uy * t * length
        half = width / 2 * math.sin(math.pi * t)
        side.append((x - uy * half, y + ux * half))
        back.append((x + uy * half, y - ux * half))
    return side + back[::-1]


def _coil(d: ImageDraw.ImageDraw, tone: Tone, b: float, whorls: float,
          points: int) -> tuple[Callable[[float], float], float]:
    """A coiled shell's outline and spiral (logarithmic, r_max at the last turn): the radius
    at an angle, and the angle of the last turn's end."""
    c, r_max, turns = CANVAS / 2, 0.46 * CANVAS, whorls * 2 * math.pi

    def radius(theta: float) -> float:
        return r_max * math.exp(b * (theta - turns))

    last_turn = [_polar(c, c, radius(t), t) for t in np.linspace(turns - 2 * math.pi, turns, 100)]
    d.polygon(last_turn, fill=tone(1.0), outline=tone(0.45), width=5)  # shell outline
    d.line([_polar(c, c, radius(t), t) for t in np.linspace(0, turns, points)], tone(0.45), 5)
    return radius, turns


def _ammonite(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c = CANVAS / 2
    radius, turns = _coil(d, tone, rng.uniform(0.11, 0.15), 5, 400)
    for t in np.arange(0, turns - 2 * math.pi, 2 * math.pi / rng.integers(22, 32)):  # ribs
        inner, outer = _polar(c, c, radius(t), t), _polar(c, c, radius(t + 2 * math.pi), t)
        d.line([inner, outer], tone(0.7), 3)


def _trilobite(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, w, top, bottom = CANVAS / 2, rng.uniform(0.42, 0.5) * CANVAS, 24, CANVAS - 24
    neck = top + 0.5 * w  # where the head shield ends
    fill, edge, raised = tone(1.0), tone(0.5), tone(1.25)
    for x in (c - w / 2, c + w / 2):  # genal spines
        d.line([(x, neck), (x, neck + 0.3 * w)], tone(0.6), 7)
    body = (c - 0.45 * w, neck - 10, c + 0.45 * w, bottom - 0.25 * w)
    d.rounded_rectangle(body, 30, fill=fill, outline=edge, width=4)
    d.ellipse(_box(c, bottom - 0.22 * w, 0.35 * w, 0.22 * w), fill=fill, outline=edge, width=4)
    d.chord((c - w / 2, top, c + w / 2, top + w), 180, 360, fill=fill, outline=edge, width=4)
    d.ellipse(_box(c, top + 0.29 * w, 0.14 * w, 0.21 * w), fill=raised, outline=edge, width=3)
    for side in (-1, 1):  # eyes
        d.ellipse(_box(c + side * 0.28 * w, top + 0.3 * w, 10, 8), fill=edge)
    d.rounded_rectangle((c - 0.14 * w, neck, c + 0.14 * w, bottom - 0.1 * w), 20, fill=raised)
    for y in np.linspace(neck + 12, bottom - 0.12 * w, rng.integers(9, 14)):  # segments
        d.line([(c - 0.45 * w, y), (c + 0.45 * w, y)], tone(0.55), 4)
    for x in (c - 0.14 * w, c + 0.14 * w):  # furrows between the three lobes
        d.line([(x, neck), (x, bottom - 0.1 * w)], tone(0.45), 5)


def _echinoid(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, r, start = CANVAS / 2, rng.uniform(0.42, 0.47) * CANVAS, rng.uniform(0, 2 * math.pi)
    d.ellipse(_box(c, c, r, r), fill=tone(1.0), outline=tone(0.6), width=5)
    for k in range(5):
        angle = start + 2 * math.pi * k / 5
        d.polygon(_leaf((c, c), angle, 0.85 * r, 0.32 * r), fill=tone(0.6), outline=tone(0.4))
        for t in np.linspace(0.15, 0.8, 7):  # two rows of pores along each petal
            for offset in (-0.07, 0.07):
                x, y = _polar(c, c, t * r, angle + offset / t)
                d.ellipse(_box(x, y, 4, 4), fill=tone(1.3))
    d.ellipse(_box(c, c, 14, 14), fill=tone(0.4))


def _shark_tooth(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, half, base = CANVAS / 2, rng.uniform(0.3, 0.36) * CANVAS, 0.74 * CANVAS
    apex = (c + rng.uniform(-20, 20), 0.05 * CANVAS)
    n = int(rng.integers(14, 20))
    left, right = [], []
    for i in range(n + 1):  # serrated edges: every other point sticks out
        t, bump = i / n, 7 * (i % 2)
        y = apex[1] + t * (base - apex[1])
        left.append((apex[0] + t * (c - half - apex[0]) - bump, y))
        right.append((apex[0] + t * (c + half - apex[0]) + bump, y))
    root = [(c - half, base - 10), (c + half, base - 10), (c + 0.8 * half, 0.92 * CANVAS)]
    root += [(c, 0.84 * CANVAS), (c - 0.8 * half, 0.92 * CANVAS)]
    d.polygon(root, fill=tone(1.2), outline=tone(0.6))
    d.polygon(left + right[::-1], fill=tone(0.35), outline=tone(0.2))
    d.line([(apex[0], apex[1] + 40), (c, base - 30)], tone(0.6), 6)  # glossy ridge


def _fern(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, bend = CANVAS / 2, rng.uniform(-0.15, 0.15) * CANVAS
    rachis = [
        (c + bend * (t - 0.5) ** 2, (0.96 - 0.92 * t) * CANVAS) for t in np.linspace(0, 1, 40)
    ]
    n = int(rng.integers(12, 18))
    for i in range(n):
        t = 0.08 + 0.88 * i / n
        start = rachis[int(t * 39)]
        angle = -math.pi / 2 + (-1) ** i * rng.uniform(0.9, 1.2)  # pinnae alternate sides
        length = (1.0 - 0.8 * t) * 0.42 * CANVAS
        d.polygon(_leaf(start, angle, length, 0.22 * length + 6), fill=tone(0.5), outline=tone(0.3))
        d.line([start, _polar(*start, 0.9 * length, angle)], tone(0.3), 2)
    d.line(rachis, tone(0.3), 7)


def _crinoid(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, w = CANVAS / 2 + rng.uniform(-20, 20), rng.uniform(0.17, 0.22) * CANVAS
    n = int(rng.integers(14, 20))
    h = 0.9 * CANVAS / n
    for y in np.linspace(0.04 * CANVAS, 0.94 * CANVAS - h, n):  # stem: a stack of discs
        d.rounded_rectangle((c - w / 2, y, c + w / 2, y + h), 8, tone(1.0), tone(0.45), 4)
        d.line([(c - w / 2 + 6, y + h / 2), (c + w / 2 - 6, y + h / 2)], tone(1.3), 3)
    for _ in range(rng.integers(2, 4)):  # loose columnals with a star-shaped lumen
        x = c + rng.choice([-1, 1]) * rng.uniform(0.62 * w, 0.3 * CANVAS)
        y, r = rng.uniform(0.2, 0.8) * CANVAS, rng.uniform(0.05, 0.07) * CANVAS
        d.ellipse(_box(x, y, r, r), fill=tone(1.0), outline=tone(0.45), width=4)
        star = [_polar(x, y, r * (0.55 if k % 2 else 0.2), k * math.pi / 5) for k in range(10)]
        d.polygon(star, fill=tone(0.45))


def _brachiopod(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, rx, ry = CANVAS / 2, rng.uniform(0.4, 0.45) * CANVAS, rng.uniform(0.3, 0.36) * CANVAS
    beak, tip = (c, c - 0.9 * ry), (c, c - ry - 0.1 * CANVAS)
    d.polygon(
        [tip, (c - 0.4 * rx, c - 0.7 * ry), (c + 0.4 * rx, c - 0.7 * ry)], tone(1.0), tone(0.5)
    )
    d.ellipse(_box(c, c, rx, ry), fill=tone(1.0), outline=tone(0.5), width=5)
    d.polygon([beak, (c - 0.15 * rx, c + ry), (c + 0.15 * rx, c + ry)], fill=tone(0.8))  # sulcus
    for phi in np.linspace(-0.15 * math.pi, 1.15 * math.pi, rng.integers(24, 34)):  # ribs
        d.line([beak, (c + rx * math.cos(phi), c + ry * math.sin(phi))], tone(0.6), 3)
    for k in (0.8, 0.6, 0.4):  # growth lines, concentric with the lower margin
        d.arc(_box(c, c - ry + k * ry + 0.1 * ry, k * rx, k * ry), 0, 180, tone(1.3), 4)


def _coral(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    c, r, size = CANVAS / 2, 0.47 * CANVAS, rng.uniform(0.055, 0.075) * CANVAS
    d.ellipse(_box(c, c, r, r), fill=tone(0.55))
    dx, dy = math.sqrt(3) * size, 1.5 * size
    for row in range(-12, 13):
        for col in range(-12, 13):
            x, y = c + col * dx + dx / 2 * (row % 2), c + row * dy
            if math.hypot(x - c, y - c) > r - size:
                continue
            corners = [math.pi / 6 + k * math.pi / 3 for k in range(6)]
            cell = [_polar(x, y, size * rng.uniform(0.8, 0.95), a) for a in corners]
            d.polygon(cell, fill=tone(1.15), outline=tone(0.5))
            d.ellipse(_box(x, y, 3, 3), fill=tone(0.45))


def _nautiloid(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    """Close to the ammonite: a coiled shell, but few fast-widening whorls, smooth, with septa."""
    c = CANVAS / 2
    radius, turns = _coil(d, tone, rng.uniform(0.2, 0.26), 2.5, 300)
    for t in np.arange(turns - 2 * math.pi, turns, 2 * math.pi / rng.integers(9, 14)):  # septa
        inner, outer = radius(t - 2 * math.pi), radius(t)
        arc = [_polar(c, c, inner + (outer - inner) * k, t - 0.12 * math.sin(math.pi * k))
               for k in np.linspace(0, 1, 12)]
        d.line(arc, tone(0.65), 3)


def _bivalve(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    """Close to the brachiopod: a ribbed oval shell, but the beak is off-centre, no sulcus."""
    c, rx, ry = CANVAS / 2, rng.uniform(0.4, 0.45) * CANVAS, rng.uniform(0.3, 0.36) * CANVAS
    umbo = (c - 0.35 * rx, c - 0.95 * ry)
    d.ellipse(_box(c, c, rx, ry), fill=tone(1.0), outline=tone(0.5), width=5)
    d.polygon([umbo, (c - 0.6 * rx, c - 0.6 * ry), (c - 0.05 * rx, c - 0.75 * ry)], tone(0.9))
    for k in np.linspace(0.25, 0.95, rng.integers(7, 11)):  # concentric growth rings
        d.arc(_box(c + (1 - k) * (umbo[0] - c), c + (1 - k) * (umbo[1] - c), k * rx, k * ry),
              -20, 200, tone(0.65), 3)
    for phi in np.linspace(0.05 * math.pi, 0.95 * math.pi, rng.integers(10, 16)):  # fine ribs
        d.line([umbo, (c + rx * math.cos(phi), c + ry * math.sin(phi))], tone(0.8), 2)


def _evolute_nautiloid(d: ImageDraw.ImageDraw, rng: np.random.Generator, tone: Tone) -> None:
    """A nautiloid that a photo hardly tells from an ammonite: many slowly widening whorls
    and closely spaced septa that read as ribs (worn or evolute shells look like this)."""
    c = CANVAS / 2
    radius, turns = _coil(d, tone, rng.uniform(0.12, 0.16), 4.5, 400)
    for t in np.arange(0, turns - 2 * math.pi, 2 * math.pi / rng.integers(18, 26)):  # septa
        inner, outer = radius(t), radius(t + 2 * math.pi)
        arc = [_polar(c, c, inner + (outer - inner) * k, t + 2 * math.pi
                      - 0.05 * math.sin(math.pi * k)) for k in np.linspace(0, 1, 8)]
        d.line(arc, tone(0.7), 3)


# Labels are knowledge-base ids; nautiloids and bivalves are the visually close pairs.
DRAWERS: dict[str, Drawer] = {
    "ammonoids": _ammonite,
    "trilobites": _trilobite,
    "echinoids": _echinoid,
    "shark_teeth": _shark_tooth,
    "ferns": _fern,
    "crinoids": _crinoid,
    "brachiopods": _brachiopod,
    "tabulate_corals": _coral,
    "nautiloids": _nautiloid,
    "bivalves": _bivalve,
}
CLASSES: tuple[str, ...] = tuple(DRAWERS)
# `hard=True`: drawings of these classes that the photos alone barely tell apart from a
# look-alike (for measuring what context, such as the age of the rock, adds).
HARD_DRAWERS: dict[str, Drawer] = {"nautiloids": _evolute_nautiloid}
STONES = ((190, 175, 150), (150, 150, 145), (165, 120, 90), (110, 108, 112), (205, 195, 170))


def _background(rng: np.random.Generator, width: int, height: int, stone: np.ndarray) -> np.ndarray:
    """Stone texture: blotchy low-frequency shading plus fine grain, as float RGB."""
    blotches = Image.fromarray((rng.random((6, 8)) * 255).astype(np.uint8))
    blotches = blotches.resize((width, height), Image.Resampling.BICUBIC)
    shade = 0.8 + 0.4 * np.asarray(blotches, dtype=np.float32)[..., None] / 255
    return stone * shade + rng.normal(0, 10, (height, width, 1))


def render(label: str, seed: int, size: tuple[int, int] = (320, 240),
           hard: bool = False) -> Image.Image:
    """Draw one fossil of class `label` as an RGB image of `size` (width, height); `hard`:
    the class's hard-to-tell drawing where it has one (HARD_DRAWERS)."""
    if label not in DRAWERS:
        raise ValueError(f"unknown fossil class {label!r}; expected one of {CLASSES}")
    width, height = size
    rng = np.random.default_rng([zlib.crc32(label.encode()), seed])
    stone = np.array(STONES[rng.integers(len(STONES))], dtype=np.float32) * rng.uniform(0.9, 1.1, 3)
    colour = stone * (rng.uniform(0.6, 0.8) if rng.random() < 0.6 else rng.uniform(1.15, 1.3))

    def tone(k: float) -> tuple[int, int, int, int]:  # opaque shade of the fossil colour
        r, g, b = (min(255, int(v * k)) for v in colour)
        return (r, g, b, 255)

    layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    drawer = HARD_DRAWERS.get(label, DRAWERS[label]) if hard else DRAWERS[label]
    drawer(ImageDraw.Draw(layer), rng, tone)
    side = int(min(width, height) * rng.uniform(0.75, 1.0))
    layer = layer.resize((side, side), Image.Resampling.LANCZOS).rotate(
        rng.uniform(0, 360), Image.Resampling.BICUBIC)
    x = int((width - side) / 2 + rng.uniform(-0.4, 0.4) * max(width - side, 0))
    y = int((height - side) / 2 + rng.uniform(-0.4, 0.4) * max(height - side, 0))

    texture = _background(rng, width, height, stone)
    background = Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8))
    shadow = Image.new("RGB", (side, side), tuple(int(v * 0.55) for v in stone))
    alpha = layer.getchannel("A").filter(ImageFilter.GaussianBlur(2))
    background.paste(shadow, (x + 3, y + 3), alpha)
    background.paste(layer, (x, y), layer)
    grain = rng.normal(0, 6, (height, width, 1))
    out = np.asarray(background.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float32) + grain
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def write_gallery(
    root: Path, per_class: int, seed: int = 0, classes: tuple[str, ...] = CLASSES,
    fmt: str = "jpg", hard: bool = False, folders: dict[str, str] | None = None,
) -> dict[str, list[Path]]:
    """Write `root/<folder>/<label>_<i>.<fmt>` for every class (the folder is the label
    unless `folders` names another, e.g. `nautiloids@Neogene`); return the paths per label."""
    paths: dict[str, list[Path]] = {}
    for label in classes:
        folder = Path(root) / (folders or {}).get(label, label)
        folder.mkdir(parents=True, exist_ok=True)
        paths[label] = []
        for i in range(per_class):
            path = folder / f"{label}_{i}.{fmt}"
            image = render(label, seed + i, hard=hard)
            if fmt in ("jpg", "jpeg"):
                image.save(path, format="JPEG", quality=90)
            else:
                image.save(path)
            paths[label].append(path)
    return paths


def held_out(label: str, n: int, seed: int = 10_000) -> list[bytes]:
    """JPEG bytes of `n` images of `label` rendered with seeds not used by the gallery."""
    images = []
    for i in range(n):
        buffer = io.BytesIO()
        render(label, seed + i).save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def mixed_photos(count: int, seed: int = 50_000, size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """JPEG bytes of `count` phone-sized photos cycling through every class (benchmarks)."""
    images = []
    for i in range(count):
        buffer = io.BytesIO()
        render(CLASSES[i % len(CLASSES)], seed + i, size).save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def not_fossils(n: int, seed: int = 70_000) -> list[bytes]:
    """JPEG bytes of photos with no fossil: bare stone, and bright rectangles (a toy, a box)."""
    images = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        if i % 2 == 0:
            stone = np.array(STONES[i % len(STONES)], dtype=np.float32)
            image = Image.fromarray(np.clip(_background(rng, 320, 240, stone), 0, 255)
                                    .astype(np.uint8))
        else:
            image = Image.new("RGB", (320, 240), tuple(int(v) for v in rng.integers(0, 255, 3)))
            draw = ImageDraw.Draw(image)
            for _ in range(8):
                x, y = int(rng.integers(0, 160)), int(rng.integers(0, 120))
                w, h = int(rng.integers(20, 160)), int(rng.integers(20, 120))
                draw.rectangle([x, y, x + w, y + h],
                               fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images
