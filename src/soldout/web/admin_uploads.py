"""Admin forms that carry files (product images, the shop's logo): `multipart/form-data`,
with the same sign-in, origin and CSRF checks as `admin_forms.read_form`."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import UploadFile

from soldout.services.media import MAX_UPLOAD_BYTES
from soldout.web.admin_forms import (
    Form,
    Refused,
    csrf_matches,
    posting_admin,
    read_form,
    shop_zone_of,
)

__all__ = ["FileField", "UploadForm", "read_upload_form"]

MAX_FILES = 12  # images one form may add at once (a product shows at most 12)
MAX_FIELDS = 3000  # 200 SKU rows of six fields, 40 spec rows, 12 images, and the rest
MAX_FIELD_BYTES = 256 * 1024  # a 20,000-character description in any script fits


@dataclass(frozen=True, slots=True)
class FileField:
    name: str  # the form field
    filename: str  # as the browser sent it (shown back in errors, never used as a path)
    data: bytes


@dataclass(slots=True)
class UploadForm(Form):
    files: list[FileField] = field(default_factory=list)

    def files_of(self, name: str) -> list[FileField]:
        return [f for f in self.files if f.name == name]


async def read_upload_form(request: Request) -> UploadForm:
    """The fields and files of a signed-in admin's own form, or `Refused`. A form sent
    without files (urlencoded) is read as well. A file input left empty sends a part with
    no name and no bytes: it is not a file."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        plain = await read_form(request)
        return UploadForm(plain.fields, plain.actor, plain.zone)
    admin = posting_admin(request)
    fields: dict[str, list[str]] = {}
    files: list[FileField] = []
    async with request.form(
        max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
    ) as posted:
        for name, value in posted.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(MAX_UPLOAD_BYTES + 1)
                if value.filename or data:
                    files.append(FileField(name, value.filename or "upload", data))
            else:
                fields.setdefault(name, []).append(value)
    if not csrf_matches(request, (fields.get("csrf") or [""])[0]):
        raise Refused
    return UploadForm(fields, admin.actor, shop_zone_of(request), files)
