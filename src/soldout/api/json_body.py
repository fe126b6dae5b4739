"""JSON request bodies: which content types are JSON, and a key given twice is refused.

JSON parsers keep the last of two equal keys in an object (RFC 8259 leaves it open), so
`{"sku": "A", "sku": "B"}` would buy B while a proxy, a log or a fraud check that reads
the first one saw A. Every JSON body is therefore refused (422, code `duplicate_key`,
the field named as validation errors name it: `sku`, `skus[0].code`) when one object in
it holds a key twice: the claim hot path checks its own bodies (`parse_claim`), and
`RefuseRepeatedKeys` checks every other request's before the route reads it.

    app.add_middleware(RefuseRepeatedKeys, answer=domain_error_response)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soldout.domain.errors import DomainError, InvalidInput

__all__ = ["RefuseRepeatedKeys", "check_unique_keys", "is_json", "repeated_key"]

_JSON_HEADERS = [(b"content-type", b"application/json")]


def is_json(content_type: str | None) -> bool:
    """Whether a body of this type is read as JSON (as FastAPI reads one):
    `application/json` or `application/*+json`, with any parameters."""
    if not content_type:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class _Repeated(dict[str, Any]):
    """An object of the body in which `key` is given twice."""

    key = ""


def repeated_key(body: bytes | str) -> str | None:
    """The field given twice in one object of `body`, named as validation errors name
    fields (`sku`, `skus[0].code`); None when every key is given once, and when `body` is
    not JSON at all (its parser says so, as it always did)."""
    found: list[_Repeated] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        data = dict(items)
        if len(data) == len(items):
            return data
        repeated = _Repeated(data)
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                repeated.key = key
                break
            seen.add(key)
        found.append(repeated)
        return repeated

    try:
        document = json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    if not found:
        return None
    return _path_to(document) or found[0].key


def _path_to(document: Any) -> str | None:
    """The path of the first `_Repeated` in document order (without recursion: a body
    may nest as deep as the parser allows)."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Repeated):
            return f"{path}.{node.key}" if path else node.key
        if isinstance(node, dict):
            children = [(v, f"{path}.{k}" if path else k) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None  # (the object was a value that a later repeat of its own key replaced)


def check_unique_keys(body: bytes | str) -> None:
    """`InvalidInput` (code `duplicate_key`) naming the field given twice, if one is."""
    field = repeated_key(body)
    if field is not None:
        key = field.rpartition(".")[2]
        raise InvalidInput(
            f"{key!r} is given twice in one object of the body: give each field once",
            field=field,
            code="duplicate_key",
        )


class RefuseRepeatedKeys:
    """ASGI middleware: a JSON body with a key given twice is answered by `answer` (the
    one place errors become HTTP) before any route reads it; any other request, and a body
    that is not JSON, goes on unchanged. The body is read whole (the server in front has
    already held it to the size limit) and handed on as it came."""

    def __init__(self, app: ASGIApp, *, answer: Callable[[DomainError], tuple[int, bytes]]) -> None:
        self.app = app
        self._answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_json(_content_type(scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its whole body arrived: nothing to do
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check_unique_keys(body)
        except InvalidInput as error:
            status, answer = self._answer(error)
            headers = [*_JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        await self.app(scope, replaying(body, receive), send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, whole, then listens on (for
    the client leaving)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _content_type(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            text: str = value.decode("latin-1")
            return text
    return None
