"""Uploaded images: real pictures made with Pillow in the test, a phone photo turned on
its side with a GPS position, files that only pretend to be images, and bombs."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from soldout.clock import FakeClock
from soldout.domain.errors import InvalidInput
from soldout.services.media import (
    MAX_UPLOAD_BYTES,
    MediaLibrary,
    image_urls,
    og_image_url,
    process_image,
    srcset,
)
from soldout.store.memory import InMemoryStore

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def picture(width: int, height: int, kind: str = "PNG", mode: str = "RGB", **save: object) -> bytes:
    """Left half red, right half blue: where the colours end up shows the orientation."""
    image = Image.new(mode, (width, height), "blue" if mode != "RGBA" else (0, 0, 255, 255))
    image.paste("red" if mode != "RGBA" else (255, 0, 0, 128), (0, 0, width // 2, height))
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def phone_photo() -> bytes:
    """A landscape sensor's photo taken holding the phone upright: stored 400x200 with
    EXIF orientation 6 (turn 90 degrees clockwise to show), and where it was taken."""
    image = Image.new("RGB", (400, 200), "blue")
    image.paste("red", (0, 0, 200, 200))
    exif = image.getexif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 5.0, 31.0), 3: "E", 4: (5.0, 7.0, 17.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95, comment=b"secret place")
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_an_upload_becomes_web_versions_and_a_social_preview() -> None:
    made = process_image(picture(2400, 1200))
    by_id = {item[0]: item for item in made.items}
    assert made.id.startswith("img_")
    assert set(by_id) == {made.id, f"{made.id}-960", f"{made.id}-480", f"{made.id}-og"}
    for suffix, width in (("", 1600), ("-960", 960), ("-480", 480)):
        _media_id, kind, w, h, data = by_id[made.id + suffix]
        image = opened(data)
        assert (kind, image.format) == ("image/webp", "WEBP")
        assert image.size == (w, h) == (width, width // 2)
    _, kind, w, h, data = by_id[f"{made.id}-og"]
    assert (kind, opened(data).format, opened(data).size) == ("image/jpeg", "JPEG", (1200, 630))
    assert (w, h) == (1200, 630)


def test_the_same_bytes_get_the_same_id_and_other_bytes_another() -> None:
    one = picture(600, 400)
    assert process_image(one).id == process_image(one).id
    assert process_image(picture(600, 401)).id != process_image(one).id


def test_a_small_upload_is_never_enlarged_except_for_the_social_preview() -> None:
    made = process_image(picture(300, 200))
    sizes = {media_id: (w, h) for media_id, _, w, h, _ in made.items}
    assert sizes[made.id] == sizes[f"{made.id}-480"] == (300, 200)
    assert sizes[f"{made.id}-og"] == (1200, 630)


def test_a_phone_photo_is_turned_upright_and_loses_its_metadata() -> None:
    data = phone_photo()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the input has GPS
    made = process_image(data)
    for media_id, _, _, _, out in made.items:
        image = opened(out)
        assert not image.getexif(), media_id
        assert "exif" not in image.info
        assert "icc_profile" not in image.info
        assert "xmp" not in image.info
        assert "comment" not in image.info
        assert b"PhoneMaker" not in out
        assert b"secret place" not in out
    upright = opened(next(out for media_id, *_, out in made.items if media_id == made.id))
    assert upright.size == (200, 400)  # portrait, as it was taken
    red, blue = upright.convert("RGB").getpixel((100, 50)), upright.getpixel((100, 350))
    assert red[0] > 200
    assert red[2] < 60
    assert blue[2] > 200
    assert blue[0] < 60


def test_a_transparent_logo_keeps_its_transparency_and_gets_favicons() -> None:
    made = process_image(picture(300, 100, mode="RGBA"), icons=True)
    by_id = {item[0]: item for item in made.items}
    assert opened(by_id[made.id][4]).mode == "RGBA"
    assert opened(by_id[f"{made.id}-og"][4]).mode == "RGB"  # JPEG: on white
    ico = opened(by_id[f"{made.id}-icon.ico"][4])
    assert ico.format == "ICO"
    assert {(16, 16), (32, 32), (48, 48)} <= set(ico.info["sizes"])
    icon = opened(by_id[f"{made.id}-icon.png"][4])
    assert (icon.format, icon.size, icon.mode) == ("PNG", (192, 192), "RGBA")
    touch = opened(by_id[f"{made.id}-touch.png"][4])
    assert (touch.size, touch.mode) == ((180, 180), "RGB")  # iOS shows transparency black
    assert touch.getpixel((2, 2)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("kind", "mode"), [("JPEG", "CMYK"), ("GIF", "P"), ("WEBP", "RGB"), ("PNG", "L")]
)
def test_other_formats_and_colour_modes_are_read(kind: str, mode: str) -> None:
    image = Image.new(mode, (64, 48))
    out = io.BytesIO()
    image.save(out, kind)
    made = process_image(out.getvalue())
    assert opened(made.items[0][4]).size == (64, 48)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am a text file",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 100,  # a PNG signature and nothing sound after it
        b"GIF89a" + b"\xff" * 50,
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>',
        picture(400, 300, "JPEG")[:600],  # cut off
        picture(40, 30, "BMP"),  # an image, but not a format a shop publishes
    ],
)
def test_what_is_not_a_readable_image_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        process_image(data, field="image")
    assert (refused.value.code, refused.value.field) == ("not_an_image", "image")


def test_an_upload_over_fifteen_megabytes_is_refused_before_it_is_read() -> None:
    with pytest.raises(InvalidInput) as refused:
        process_image(b"\xff\xd8" + b"\0" * MAX_UPLOAD_BYTES, field="logo")
    assert (refused.value.code, refused.value.field) == ("image_too_large", "logo")
    assert "15 MB" in refused.value.message


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares `width` x `height` pixels: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


@pytest.mark.parametrize("side", [7_000, 12_000, 100_000])  # 49, 144 and 10,000 megapixels
def test_too_many_pixels_are_refused_from_the_header(side: int) -> None:
    data = png_header_only(side, side)
    assert len(data) < 200
    with pytest.raises(InvalidInput) as refused:
        process_image(data)
    assert refused.value.code == "image_too_many_pixels"


async def test_the_library_stores_an_upload_once_and_serves_its_versions() -> None:
    store = InMemoryStore()
    library = MediaLibrary(store.media, FakeClock(), store.transaction)
    data = picture(1000, 500)
    first = await library.add_image(data)
    stored = dict(store.media.rows)
    again = await library.add_image(data)
    assert first == again
    assert (first.width, first.height) == (1000, 500)
    assert store.media.rows == stored
    assert len(stored) == 4
    for url in image_urls(first.id).values():
        item = await library.get(url.removeprefix("/media/"))
        assert item is not None
        assert item.content_type == "image/webp"
    assert await library.exists(first.id)
    assert not await library.exists(f"{first.id}-480")  # a version is not an image
    assert await library.get("img_" + "0" * 32) is None
    assert await library.get("../../etc/passwd") is None
    logo = await library.add_logo(data)  # the same bytes as a logo: its favicons are added
    assert logo.id == first.id
    assert len(store.media.rows) == 7


async def test_a_refused_upload_stores_nothing() -> None:
    store = InMemoryStore()
    with pytest.raises(InvalidInput):
        await MediaLibrary(store.media, FakeClock(), store.transaction).add_image(
            b"not an image", field="image"
        )
    assert store.media.rows == {}


def test_urls_for_pages() -> None:
    assert image_urls("img_ab") == {
        "480": "/media/img_ab-480",
        "960": "/media/img_ab-960",
        "1600": "/media/img_ab",
    }
    assert srcset("img_ab") == "/media/img_ab-480 480w, /media/img_ab-960 960w, /media/img_ab 1600w"
    assert og_image_url("img_ab", "https://shop.example/") == "https://shop.example/media/img_ab-og"
