"""The demo product's pictures, drawn here (no image files in the repository, no network):
a phone seen from the front and from the back, in the demo's colours."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["phone_back", "phone_front"]

SIDE = 1600


def _backdrop(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    canvas = Image.new("RGB", (SIDE, SIDE))
    draw = ImageDraw.Draw(canvas)
    for y in range(SIDE):
        mix = y / SIDE
        draw.line(
            [(0, y), (SIDE, y)],
            fill=tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)),
        )
    return canvas


def _shadowed(canvas: Image.Image, box: tuple[int, int, int, int], radius: int) -> None:
    shadow = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(shadow).rounded_rectangle(
        (box[0] + 30, box[1] + 50, box[2] + 30, box[3] + 50), radius, fill=110
    )
    canvas.paste((20, 24, 40), (0, 0), shadow.filter(ImageFilter.GaussianBlur(40)))


def _png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()


def phone_front() -> bytes:
    canvas = _backdrop((238, 241, 247), (205, 214, 232))
    body = (520, 170, 1080, 1430)
    _shadowed(canvas, body, 90)
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle(body, 90, fill=(22, 24, 30))
    screen = _backdrop((11, 87, 208), (118, 60, 190)).resize((500, 1180))
    mask = Image.new("L", screen.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, 499, 1179), 62, fill=255)
    canvas.paste(screen, (550, 210), mask)
    draw.rounded_rectangle((745, 232, 855, 262), 15, fill=(10, 10, 14))  # the camera notch
    draw.text((640, 700), "12:00", fill=(255, 255, 255), font_size=110)
    draw.text((650, 830), "Model One", fill=(230, 236, 255), font_size=56)
    return _png(canvas)


def phone_back() -> bytes:
    canvas = _backdrop((247, 240, 232), (226, 214, 198))
    body = (520, 170, 1080, 1430)
    _shadowed(canvas, body, 90)
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle(body, 90, fill=(28, 30, 36))
    draw.rounded_rectangle((580, 240, 800, 520), 60, fill=(44, 47, 56))  # the camera bump
    for x, y in ((640, 300), (640, 420), (740, 360)):
        draw.ellipse(
            (x - 42, y - 42, x + 42, y + 42), fill=(12, 12, 16), outline=(90, 94, 110), width=6
        )
    draw.text((720, 1250), "M1", fill=(120, 124, 140), font_size=64)
    return _png(canvas)
