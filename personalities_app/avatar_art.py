"""Simple original avatar art drawn with Pillow.

Used for the bundled characters' avatars (``scripts/draw_bundled_avatars.py``
draws them into ``personalities/avatars/``) and as the picture of a PNG card
exported for a personality that has no uploaded avatar.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
SIZE = 256
# Drawn at 4x and scaled down: Pillow's shapes have no anti-aliasing of their own.
SCALE = 4


def _gradient(size: int, top: Colour, bottom: Colour) -> Image.Image:
    column = Image.new("RGB", (1, size))
    for y in range(size):
        t = y / (size - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize((size, size))


RGBA = tuple[int, int, int, int]


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: RGBA, points: int = 5) -> None:
    coords = []
    for i in range(points * 2):
        radius = r if i % 2 == 0 else r * 0.45
        angle = math.pi / points * i - math.pi / 2
        coords.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(coords, fill=fill)


def _spike(
    draw: ImageDraw.ImageDraw, c: float, angle: float, inner: float, outer: float, w: float, fill: RGBA
) -> None:
    side = angle + math.pi / 2
    draw.polygon(
        [
            (c + outer * math.cos(angle), c + outer * math.sin(angle)),
            (
                c + inner * math.cos(angle) + w * math.cos(side),
                c + inner * math.sin(angle) + w * math.sin(side),
            ),
            (
                c + inner * math.cos(angle) - w * math.cos(side),
                c + inner * math.sin(angle) - w * math.sin(side),
            ),
        ],
        fill=fill,
    )


def _motif_compass(layer: Image.Image, accent: RGBA) -> None:
    s = layer.width
    draw = ImageDraw.Draw(layer)
    draw.ellipse((s * 0.1, s * 0.1, s * 0.9, s * 0.9), outline=accent, width=s // 40)
    draw.ellipse((s * 0.17, s * 0.17, s * 0.83, s * 0.83), outline=accent, width=s // 90)
    for angle in range(0, 360, 45):
        length = 0.4 if angle % 90 == 0 else 0.3
        _spike(draw, s / 2, math.radians(angle - 90), 0, s * length, s * 0.04, accent)


def _motif_leaf(layer: Image.Image, accent: RGBA) -> None:
    s = layer.width
    mask = Image.new("L", (s, s), 0)
    shape = ImageDraw.Draw(mask)
    # A leaf is what two overlapping circles share.
    shape.ellipse((s * -0.05, s * 0.05, s * 0.85, s * 0.95), fill=255)
    lens = Image.new("L", (s, s), 0)
    ImageDraw.Draw(lens).ellipse((s * 0.15, s * 0.05, s * 1.05, s * 0.95), fill=255)
    mask = Image.composite(mask, Image.new("L", (s, s), 0), lens)
    layer.paste(accent, (0, 0), mask)
    draw = ImageDraw.Draw(layer)
    draw.line((s * 0.5, s * 0.1, s * 0.5, s * 0.97), fill=(0, 0, 0, 0), width=s // 50)
    for i in range(1, 5):
        y = s * (0.2 + i * 0.14)
        draw.line((s * 0.5, y, s * 0.33, y - s * 0.12), fill=(0, 0, 0, 0), width=s // 80)
        draw.line((s * 0.5, y, s * 0.67, y - s * 0.12), fill=(0, 0, 0, 0), width=s // 80)


def _motif_gear(layer: Image.Image, accent: RGBA) -> None:
    s = layer.width
    draw = ImageDraw.Draw(layer)
    c = s / 2
    teeth = 10
    coords = []
    for i in range(teeth * 4):
        angle = 2 * math.pi * i / (teeth * 4)
        radius = s * (0.46 if i % 4 in (1, 2) else 0.37)
        coords.append((c + radius * math.cos(angle), c + radius * math.sin(angle)))
    draw.polygon(coords, fill=accent)


def _motif_sun(layer: Image.Image, accent: RGBA) -> None:
    s = layer.width
    draw = ImageDraw.Draw(layer)
    c = s / 2
    for i in range(16):
        outer = s * (0.48 if i % 2 == 0 else 0.41)
        _spike(draw, c, 2 * math.pi * i / 16, s * 0.3, outer, s * 0.035, accent)
    draw.ellipse((c - s * 0.32, c - s * 0.32, c + s * 0.32, c + s * 0.32), fill=accent)


def _motif_moon(layer: Image.Image, accent: RGBA) -> None:
    s = layer.width
    draw = ImageDraw.Draw(layer)
    draw.ellipse((s * 0.08, s * 0.08, s * 0.8, s * 0.8), fill=accent)
    # Drawing "transparent" on an RGBA layer replaces pixels: the crescent's cut.
    draw.ellipse((s * 0.26, s * 0.0, s * 0.98, s * 0.72), fill=(0, 0, 0, 0))
    for cx, cy, r in ((0.8, 0.16, 0.06), (0.9, 0.5, 0.035), (0.72, 0.86, 0.045), (0.16, 0.88, 0.035)):
        _star(draw, s * cx, s * cy, s * r, accent)


def _motif_rain(layer: Image.Image, accent: RGBA) -> None:
    s = layer.width
    draw = ImageDraw.Draw(layer)
    for row in range(8):
        for col in range(8):
            x = s * (0.04 + col * 0.13 + (row % 2) * 0.065)
            y = s * (0.0 + row * 0.13)
            draw.line((x, y, x - s * 0.035, y + s * 0.09), fill=accent, width=s // 70)


MOTIFS: dict[str, Callable[[Image.Image, RGBA], None]] = {
    "compass": _motif_compass,
    "leaf": _motif_leaf,
    "gear": _motif_gear,
    "sun": _motif_sun,
    "moon": _motif_moon,
    "rain": _motif_rain,
}


def draw_avatar(
    *,
    initials: str,
    top: Colour,
    bottom: Colour,
    accent: Colour,
    motif: str,
    text: Colour = (255, 255, 255),
    size: int = SIZE,
) -> bytes:
    """A square avatar: a gradient, a faint motif, the initials in a ringed disc; PNG bytes."""
    if motif not in MOTIFS:
        raise ValueError(f"unknown motif {motif!r}; one of {', '.join(MOTIFS)}")
    big = size * SCALE
    image = _gradient(big, top, bottom).convert("RGBA")
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    MOTIFS[motif](layer, (*accent, 255))
    # The motif is a watermark: drawn opaque, then faded as a whole.
    layer.putalpha(layer.getchannel("A").point(lambda alpha: alpha * 80 // 255))
    image = Image.alpha_composite(image, layer)
    draw = ImageDraw.Draw(image)
    disc = big * 0.27
    centre = big / 2
    draw.ellipse(
        (centre - disc, centre - disc, centre + disc, centre + disc),
        fill=(*bottom, 255),
        outline=(*accent, 255),
        width=big // 48,
    )
    font = ImageFont.load_default(size=round(big * (0.2 if len(initials) > 1 else 0.26)))
    draw.text((centre, centre), initials, fill=text, font=font, anchor="mm")
    out = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def initials_of(name: str) -> str:
    words = [word for word in name.replace("-", " ").split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "?"


def placeholder_avatar(name: str, seed: str) -> bytes:
    """A distinct avatar for a name, its colours and motif derived from ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    hue = digest[0] / 255

    def colour(h: float, saturation: float, value: float) -> Colour:
        i = int(h * 6) % 6
        f = h * 6 - int(h * 6)
        p, q, t = value * (1 - saturation), value * (1 - f * saturation), value * (1 - (1 - f) * saturation)
        rgb = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)][i]
        return tuple(round(channel * 255) for channel in rgb)  # type: ignore[return-value]

    return draw_avatar(
        initials=initials_of(name),
        top=colour(hue, 0.55, 0.55),
        bottom=colour((hue + 0.08) % 1, 0.7, 0.3),
        accent=colour((hue + 0.5) % 1, 0.35, 0.95),
        motif=sorted(MOTIFS)[digest[1] % len(MOTIFS)],
    )
