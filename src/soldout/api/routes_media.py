"""What anyone may fetch of the shop's look: uploaded images (`/media/{id}`), the
favicons and the accent colour as CSS. No token: these are in every public page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from soldout.api.deps import platform_dep
from soldout.api.openapi import DocumentedRoute
from soldout.domain.errors import NotFound
from soldout.services import Platform
from soldout.services.media import MediaLibrary
from soldout.services.shop import Asset, ShopSettings, shop_css

__all__ = ["router"]

router = APIRouter(tags=["anyone"], route_class=DocumentedRoute)
PlatformDep = Annotated[Platform, Depends(platform_dep)]
FOREVER = "public, max-age=31536000, immutable"  # a media id never changes its bytes
A_DAY = "public, max-age=86400"  # pages link these with ?v=, so a change shows at once


def _answer(request: Request, data: bytes, content_type: str, etag: str, cache: str) -> Response:
    headers = {
        "cache-control": cache,
        "etag": etag,
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }
    if etag in request.headers.get("if-none-match", "").replace("W/", "").split(", "):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=content_type, headers=headers)


@router.get(
    "/media/{media_id}",
    response_class=Response,
    responses={
        200: {
            "description": "the image (JPEG, PNG, WebP or GIF)",
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        304: {"description": "not modified: `If-None-Match` names this version"},
    },
)
async def media(media_id: str, request: Request, platform: PlatformDep) -> Response:
    """An uploaded image's version (see `soldout.services.media`), cached for a year."""
    item = await MediaLibrary(platform.store.media, platform.clock).get(media_id)
    if item is None:
        raise NotFound("image", field="media_id")
    return _answer(request, item.data, item.content_type, f'"{item.id}"', FOREVER)


async def _icon(request: Request, platform: Platform, kind: str) -> Response:
    asset: Asset = await ShopSettings(platform.store, platform.clock).icon(kind)
    return _answer(request, asset.data, asset.content_type, asset.etag, A_DAY)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon_ico(request: Request, platform: PlatformDep) -> Response:
    return await _icon(request, platform, "ico")


@router.get("/favicon.png", include_in_schema=False)
async def favicon_png(request: Request, platform: PlatformDep) -> Response:
    return await _icon(request, platform, "png")


@router.get("/apple-touch-icon.png", include_in_schema=False)
@router.get("/apple-touch-icon-precomposed.png", include_in_schema=False)
async def touch_icon(request: Request, platform: PlatformDep) -> Response:
    return await _icon(request, platform, "touch")


@router.get("/shop.css", include_in_schema=False)
async def accent_css(request: Request, platform: PlatformDep) -> Response:
    """The shop's accent colour as CSS custom properties (`--accent`, `--accent-ink`)."""
    css = shop_css(await ShopSettings(platform.store, platform.clock).get()).encode()
    asset = Asset(css, "text/css; charset=utf-8")
    return _answer(request, css, asset.content_type, asset.etag, A_DAY)
