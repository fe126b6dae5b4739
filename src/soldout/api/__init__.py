"""The HTTP entry point: a raw-ASGI hot path for claims in front of a FastAPI app."""

from soldout.api.app import build_app

__all__ = ["build_app"]
