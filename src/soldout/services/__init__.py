"""Use cases, and the `Platform` that wires store, engine, clock and tokens together."""

from soldout.services.platform import Platform

__all__ = ["Platform"]
