"""A time zone's name as the shop writes it, for store/core.js on a visit's first page.

The server names a fan's zone on every page and in every e-mail ("China Time", "中国时间")
once the browser's zone reaches it in the `soldout_tz` cookie. Before that, on the first
page, store/core.js shows times in the browser's zone: it asks here for the same name, as the
browser's own (ICU's "China Standard Time", "中国标准时间") differs from the shop's CLDR
names in Babel.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from soldout import i18n
from soldout.i18n import Speaker

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/time-zone")
async def zone_name(zone: str = "", lang: str = "") -> Response:
    """`{"zone", "name", "note"}` for an IANA zone in a page's language (`lang` as
    `<html lang>` gives it); 404 for a zone the server does not know."""
    if i18n.valid_zone(zone) is None:
        return JSONResponse(
            {"error": {"code": "unknown_zone", "field": "zone", "message": "No such time zone."}},
            status_code=404,
        )
    speaker = Speaker.of(lang, zone)
    name = speaker.zone_name()
    note = speaker.gettext("Times are shown in %(zone)s.") % {"zone": name}
    return JSONResponse(
        {"zone": speaker.zone_key, "name": name, "note": note},
        headers={"cache-control": "public, max-age=86400"},
    )
