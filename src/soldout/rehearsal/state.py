"""What the server holds after the sale, read with the admin token: stock per SKU, every
claim of the launch and every order (both paged), and the reconciliation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from soldout.rehearsal.checks import ServerClaim, ServerOrder, ServerState, SkuCount
from soldout.rehearsal.client import Api
from soldout.rehearsal.stage import RehearsalError

__all__ = ["read_server_state"]

API = "/api/v1"
CLAIMS_PAGE = 5000
ORDERS_PAGE = 1000


async def _get(api: Api, token: str, path: str, **query: Any) -> Any:
    if query:
        path += "?" + urlencode({k: v for k, v in query.items() if v is not None})
    answer = await api.call("check", "GET", path, actor="check", token=token, timeout=60)
    if answer.status != 200:
        raise RehearsalError(f"reading {path}: the server answered {answer.status} ({answer.code})")
    return answer.data


async def read_server_state(api: Api, admin_token: str, launch_id: str) -> ServerState:
    launch = await _get(api, admin_token, f"{API}/launches/{launch_id}")
    stats = await _get(api, admin_token, f"{API}/launches/{launch_id}/stats")
    skus = {
        code: SkuCount(s["batch"], s["held"], s["paid"], s["set_aside"])
        for code, s in stats["skus"].items()
    }
    claims: list[ServerClaim] = []
    after: Any = 0
    while after is not None:
        page = await _get(
            api, admin_token, f"{API}/launches/{launch_id}/claims", after=after, limit=CLAIMS_PAGE
        )
        claims += [
            ServerClaim(
                c["id"],
                c["fan_id"],
                c["sku"],
                c["quantity"],
                c["state"],
                c["order_id"],
                c["created_at"],
                c["closed_at"],
            )
            for c in page["claims"]
        ]
        after = page["next"]
    orders: list[ServerOrder] = []
    cursor: Any = None
    while True:
        page = await _get(
            api, admin_token, f"{API}/orders", launch_id=launch_id, after=cursor, limit=ORDERS_PAGE
        )
        orders += [
            ServerOrder(o["id"], o["claim_id"], o["sku"], o["quantity"], o["status"])
            for o in page["orders"]
        ]
        cursor = page["next"]
        if cursor is None:
            break
    reconciliation = await _get(api, admin_token, f"{API}/reconciliation")
    return ServerState(
        skus,
        launch["per_fan_limit"],
        claims,
        orders,
        bool(reconciliation["ok"]),
        [f"{m['kind']} {m['subject']}: {m['detail']}" for m in reconciliation["mismatches"]],
    )
