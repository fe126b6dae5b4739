"""The server's log: human-readable lines, or one JSON object per line.

    configure("info", "json")   # once, at start (`soldout serve`)

Logs go to standard error. A record's `extra` fields (the access log's request id,
route, status, latency and fan) become fields of its JSON object; a traceback becomes
the `traceback` field, so one event stays one line for a log shipper.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

__all__ = ["TEXT_FORMAT", "JsonFormatter", "LogFormat", "configure"]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
# What every record carries; the rest came in `extra`. (`color_message`: uvicorn's copy
# of its message with terminal colours.)
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, the
    record's extra fields, and `traceback` / `stack` when it has them."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str, log_format: LogFormat) -> None:
    """soldout's own loggers at `level`; everyone else's at `warning` or above (a library's
    INFO lines, one per outgoing HTTP call, are noise in a shop's log)."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    number = logging.getLevelNamesMapping()[level.upper()]
    logging.basicConfig(handlers=[handler], level=max(number, logging.WARNING), force=True)
    logging.getLogger("soldout").setLevel(number)
