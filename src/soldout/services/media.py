"""Images the maker uploads: checked, cleaned and resized with Pillow, stored with the data
and served from `/media/{id}` for a year (an id never changes its bytes).

One upload becomes a set of media items sharing an id made from the upload's bytes (so
the same photo uploaded twice is stored once):

    img_<hash>        WebP at most 1600 px wide: the image itself (the id a product lists)
    img_<hash>-960    WebP at most 960 px wide
    img_<hash>-480    WebP at most 480 px wide (thumbnails, phones)
    img_<hash>-og     JPEG 1200x630, cropped to the middle: the Open Graph preview
    img_<hash>-icon.ico, -icon.png, -touch.png   a logo's favicons (`add_logo` only)

Pages build their URLs without reading the store:

    >>> image_urls("img_0123")["480"]
    '/media/img_0123-480'
    >>> og_image_url("img_0123", "https://shop.example")
    'https://shop.example/media/img_0123-og'

What is refused, and why: more than 15 MB (a phone photo is 2-8 MB); more than
40 megapixels, checked from the header before any pixel is decoded (a small PNG can
declare 100,000 x 100,000 pixels and take 40 GB to open: a decompression bomb); anything
Pillow does not read as JPEG, PNG, WebP or GIF. What is kept: pixels only. The EXIF
orientation is applied, then every piece of metadata (EXIF with a phone's GPS position,
XMP, comments) is left behind; colours are converted to sRGB first when the photo carries
another profile (a phone's Display P3).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from soldout.clock import Clock
from soldout.domain.errors import InvalidInput
from soldout.domain.media import MediaItem
from soldout.store.ports import MediaRepository, Transaction

__all__ = [
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "WIDTHS",
    "MediaLibrary",
    "ProcessedImage",
    "StoredImage",
    "image_id",
    "image_urls",
    "is_image_id",
    "is_media_id",
    "og_image_url",
    "process_image",
    "srcset",
]

MAX_UPLOAD_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 50-megapixel camera's photo is refused: resize it first
WIDTHS = (480, 960, 1600)  # px; the widest is the image's own id
TALLEST = 4  # a variant is at most four times as tall as it is wide
OG_SIZE = (1200, 630)  # what Facebook, LinkedIn, X and messengers show best
ICON_SIZES = [(16, 16), (32, 32), (48, 48)]
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_VERSION = b"soldout-image-v1\0"  # change when the variants change: new ids, no stale cache
_ID = re.compile(r"^img_[0-9a-f]{32}(?:-(?:480|960|og|icon\.ico|icon\.png|touch\.png))?$")
_IMAGE_ID = re.compile(r"^img_[0-9a-f]{32}$")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# One image at a time, off the event loop: a 12-megapixel photo takes about a second of
# CPU, which must neither stall a sale's requests nor take both cores.
_IMAGING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soldout-imaging")
# Pillow warns (rather than refuses) between 89 and 179 megapixels; here a bomb is an
# error wherever it is caught, whatever the process's warning filters.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def is_media_id(media_id: str) -> bool:
    """Whether `media_id` is the form of an id this service makes (any variant)."""
    return bool(_ID.match(media_id))


def is_image_id(media_id: str) -> bool:
    """Whether `media_id` is the form of an image's own id (what a product lists)."""
    return bool(_IMAGE_ID.match(media_id))


def image_urls(media_id: str) -> dict[str, str]:
    """The image's web versions by nominal width: {"480": url, "960": url, "1600": url}.
    A version is never wider than the upload, so a small upload's are the same size."""
    return {
        str(width): f"/media/{media_id}" + ("" if width == WIDTHS[-1] else f"-{width}")
        for width in WIDTHS
    }


def srcset(media_id: str) -> str:
    """For `<img srcset>`: "/media/img_x-480 480w, /media/img_x-960 960w, /media/img_x 1600w"."""
    return ", ".join(f"{url} {width}w" for width, url in image_urls(media_id).items())


def og_image_url(media_id: str, public_url: str) -> str:
    """The absolute URL of the 1200x630 JPEG (Open Graph and Twitter cards need one)."""
    return f"{public_url.rstrip('/')}/media/{media_id}-og"


@dataclass(frozen=True, slots=True)
class StoredImage:
    id: str
    width: int  # of the widest web version
    height: int


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    id: str
    items: tuple[tuple[str, str, int, int, bytes], ...]  # (media id, type, width, height, data)


def image_id(data: bytes) -> str:
    return "img_" + hashlib.sha256(_VERSION + data).hexdigest()[:32]


def process_image(data: bytes, *, field: str = "image", icons: bool = False) -> ProcessedImage:
    """Check an upload and make its web versions (and, for a logo, its favicons). Pure and
    synchronous (about a second for a 12-megapixel photo): `MediaLibrary` runs it off the
    event loop. Raises `InvalidInput` with the code `not_an_image`, `image_too_large` or
    `image_too_many_pixels` and the given field."""
    picture = _decode(data, field)
    base = image_id(data)
    items = []
    version = picture
    for width in reversed(WIDTHS):  # each from the one before: fewer pixels to resample
        version = _fit(version, width)
        media_id = base if width == WIDTHS[-1] else f"{base}-{width}"
        items.append((media_id, "image/webp", *version.size, _encode(version, "WEBP")))
    social = ImageOps.fit(_on_white(picture), OG_SIZE, Image.Resampling.LANCZOS)
    items.append((f"{base}-og", "image/jpeg", *OG_SIZE, _encode(social, "JPEG")))
    if icons:
        items.extend(_icons(base, picture))
    return ProcessedImage(base, tuple(items))


def _decode(data: bytes, field: str) -> Image.Image:
    if not data:
        raise InvalidInput("the file is empty", field=field, code="not_an_image")
    if len(data) > MAX_UPLOAD_BYTES:
        megabytes = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise InvalidInput(
            f"the image is over {megabytes} MB: export it smaller (2000 px wide is plenty)",
            field=field,
            code="image_too_large",
        )
    try:
        picture = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _too_many_pixels(field) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidInput(
            "this file is not an image we can read (JPEG, PNG, WebP or GIF)",
            field=field,
            code="not_an_image",
        ) from None
    if picture.width * picture.height > MAX_PIXELS:
        raise _too_many_pixels(field)
    icc = picture.info.get("icc_profile")
    widest = WIDTHS[-1]
    try:
        # A JPEG decodes straight to 1/2, 1/4 or 1/8 of its size (either way up at least
        # as large as the widest version): 12 megapixels cost a quarter of the time.
        picture.draft(None, (widest, widest))
        picture.load()
        upright = ImageOps.exif_transpose(picture)
        if upright.width > widest or upright.height > widest * TALLEST:
            upright = _fit(upright, widest)  # the profile is applied to fewer pixels
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(
            "the image is damaged or incomplete: export it again", field=field, code="not_an_image"
        ) from None
    return _clean(upright, icc)


def _too_many_pixels(field: str) -> InvalidInput:
    return InvalidInput(
        f"the image has more than {MAX_PIXELS // 1_000_000} megapixels: resize it first",
        field=field,
        code="image_too_many_pixels",
    )


def _clean(picture: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in sRGB, RGB or RGBA, and nothing else: no EXIF, XMP, ICC or comments."""
    alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    mode = "RGBA" if alpha else "RGB"
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if picture.mode not in ("RGB", "RGBA", "CMYK"):
                picture = picture.convert(mode)
            converted = ImageCms.profileToProfile(picture, source, _SRGB, outputMode=mode)
            if converted is not None:
                picture = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: the pixels as they are
    clean = picture.convert(mode)
    clean.info = {}
    return clean


def _fit(picture: Image.Image, width: int) -> Image.Image:
    scale = min(1.0, width / picture.width, width * TALLEST / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture if size == picture.size else picture.resize(size, Image.Resampling.LANCZOS)


def _on_white(picture: Image.Image) -> Image.Image:
    if picture.mode != "RGBA":
        return picture
    background = Image.new("RGB", picture.size, "white")
    background.paste(picture, mask=picture.getchannel("A"))
    return background


def _encode(picture: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    if kind == "WEBP":
        picture.save(out, "WEBP", quality=82, method=4, **options)
    elif kind == "JPEG":
        picture.save(out, "JPEG", quality=85, optimize=True, progressive=True, **options)
    else:
        picture.save(out, kind, **options)
    return out.getvalue()


def _icons(base: str, logo: Image.Image) -> list[tuple[str, str, int, int, bytes]]:
    """A logo's favicons: square, the logo centred on a transparent (ICO, PNG) or, for
    Apple's home screen, which shows transparency as black, a white ground."""
    side = max(logo.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(logo, ((side - logo.width) // 2, (side - logo.height) // 2))
    icon = square.resize((192, 192), Image.Resampling.LANCZOS)
    touch = Image.new("RGB", (180, 180), "white")
    inner = square.resize((150, 150), Image.Resampling.LANCZOS)
    touch.paste(inner, (15, 15), inner)
    ico = _encode(square.resize((48, 48), Image.Resampling.LANCZOS), "ICO", sizes=ICON_SIZES)
    return [
        (f"{base}-icon.ico", "image/x-icon", 48, 48, ico),
        (f"{base}-icon.png", "image/png", 192, 192, _encode(icon, "PNG", optimize=True)),
        (f"{base}-touch.png", "image/png", 180, 180, _encode(touch, "PNG", optimize=True)),
    ]


class _Recent:
    """The most recently served media, up to a number of bytes: a launch page's hero is
    asked for by every fan at the opening, and its bytes never change."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.items: OrderedDict[str, MediaItem] = OrderedDict()

    def get(self, media_id: str) -> MediaItem | None:
        item = self.items.get(media_id)
        if item is not None:
            self.items.move_to_end(media_id)
        return item

    def put(self, item: MediaItem) -> None:
        if item.id in self.items or len(item.data) > self.limit // 4:
            return
        self.items[item.id] = item
        self.size += len(item.data)
        while self.size > self.limit:
            _, old = self.items.popitem(last=False)
            self.size -= len(old.data)


_RECENT: weakref.WeakKeyDictionary[MediaRepository, _Recent] = weakref.WeakKeyDictionary()
RECENT_BYTES = 32 * 1024 * 1024


class MediaLibrary:
    """Uploads in, media out. Cheap to make: it holds no state of its own but the store's
    repository and the clock (served bytes are remembered per repository). Made without
    `transaction` (the store's), it only serves: an upload's versions are written in one."""

    def __init__(
        self,
        media: MediaRepository,
        clock: Clock,
        transaction: Callable[[], AbstractAsyncContextManager[Transaction]] | None = None,
    ) -> None:
        self._media = media
        self._clock = clock
        self._transaction = transaction

    async def add_image(self, data: bytes, *, field: str = "image") -> StoredImage:
        """Check and store an upload; the same bytes again are not processed again."""
        return await self._add(data, field, icons=False)

    async def add_logo(self, data: bytes, *, field: str = "logo") -> StoredImage:
        """As `add_image`, with the favicons made from it."""
        return await self._add(data, field, icons=True)

    async def _add(self, data: bytes, field: str, *, icons: bool) -> StoredImage:
        transaction = self._transaction
        if transaction is None:
            raise RuntimeError("this media library only serves: make it with a transaction")
        base = image_id(data)
        last = f"{base}-touch.png" if icons else f"{base}-og"
        if await self._media.get(last) is not None:
            return await self.image(base)
        loop = asyncio.get_running_loop()
        made = await loop.run_in_executor(
            _IMAGING, lambda: process_image(data, field=field, icons=icons)
        )
        now = self._clock.now()
        items = [MediaItem(i, kind, w, h, blob, now) for i, kind, w, h, blob in made.items]
        # One transaction: the last version on record (looked up above) means all are.
        async with transaction() as tx:
            for item in items:
                tx.media.add(item)
        return StoredImage(made.id, items[0].width, items[0].height)

    async def image(self, media_id: str) -> StoredImage:
        item = await self.get(media_id) if is_image_id(media_id) else None
        if item is None:
            raise InvalidInput("no such image", field="image", code="unknown_image")
        return StoredImage(item.id, item.width, item.height)

    async def exists(self, media_id: str) -> bool:
        return is_image_id(media_id) and await self.get(media_id) is not None

    async def get(self, media_id: str) -> MediaItem | None:
        """A stored item by id (any variant), or None (also for an id of another form)."""
        if not is_media_id(media_id):
            return None
        recent = _RECENT.get(self._media)
        if recent is None:
            recent = _RECENT[self._media] = _Recent(RECENT_BYTES)
        item = recent.get(media_id)
        if item is None:
            item = await self._media.get(media_id)
            if item is not None:
                recent.put(item)
        return item
