"""The baseline: a raw ASGI hello-world, served by the same call soldout uses.

`--rsgi`: the same hello-world over Granian's native interface, which soldout's claim
path uses under Granian: a reference for the cost of the interface itself."""

from __future__ import annotations

import argparse
from typing import Any

from soldout.api.server import serve_asgi

BODY = b'{"ok":true}'
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(START)
    await send(END)


class Rsgi:
    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        protocol.response_bytes(200, [("content-type", "application/json")], BODY)


async def serve_rsgi(app: Any, port: int) -> None:
    """Granian's native interface, set up as soldout's server sets it up."""
    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI,
        http=HTTPModes.http1,
        log_access=False,
        backlog=2048,
        websockets=False,
    )
    await server.serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=["granian", "uvicorn"], required=True)
    parser.add_argument("--rsgi", action="store_true", help="Granian's native interface")
    args = parser.parse_args()
    if args.rsgi:
        import uvloop

        uvloop.run(serve_rsgi(Rsgi(), args.port))
    else:
        serve_asgi(app, "127.0.0.1", args.port, args.server)
