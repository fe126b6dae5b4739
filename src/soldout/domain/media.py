"""Images the maker uploads (product photos, the shop's logo), stored with the data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["MediaItem"]


@dataclass(frozen=True, slots=True)
class MediaItem:
    id: str  # content-addressed: the same bytes always get the same id
    content_type: str  # image/webp, image/png, image/jpeg
    width: int
    height: int
    data: bytes
    created_at: datetime
