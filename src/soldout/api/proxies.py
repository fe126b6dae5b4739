"""Which proxies are trusted to say the client's address and scheme.

    proxies = TrustedProxies.parse("127.0.0.1,10.0.0.0/8")   # SOLDOUT_TRUSTED_PROXIES
    scope = proxies.rewrite(scope)                            # before any route runs

Behind a proxy that ends TLS, the peer soldout sees is the proxy and the scheme is http:
cookies would never be `Secure`, and every rate limit per address would count all fans as
one. A proxy says what it saw in `X-Forwarded-For` and `X-Forwarded-Proto`, but anyone
can send those headers, so they are believed only from a peer in the trusted list, which
is empty unless configured: by default nothing forwarded is believed.

The client is found from the right of `X-Forwarded-For`: each trusted proxy appends the
address it saw, so the rightmost address that is not a trusted proxy is the client's (an
address further left was written by the client itself and proves nothing). The scheme
is the last `X-Forwarded-Proto` value, if it is `http` or `https`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import MutableMapping, Sequence
from typing import Any

__all__ = ["TrustedProxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Sequence[Network] = ()) -> None:
        self._networks = tuple(networks)

    @classmethod
    def parse(cls, text: str | None) -> TrustedProxies:
        """Addresses and networks, comma separated; `ValueError` names a bad one."""
        networks = []
        for item in (text or "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"SOLDOUT_TRUSTED_PROXIES: {item!r} is not an IP address or network"
                    " (e.g. 127.0.0.1,10.0.0.0/8)"
                ) from None
        return cls(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, address: str | None) -> bool:
        if not address or not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)

    def client_of(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: `peer`, unless a trusted proxy forwarded another."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer

    def scheme_of(self, peer: str | None, scheme: str, forwarded_proto: str | None) -> str:
        if not forwarded_proto or not self.trusts(peer):
            return scheme
        said = forwarded_proto.split(",")[-1].strip().lower()
        return said if said in ("http", "https") else scheme

    def rewrite(self, scope: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """An ASGI http scope as the client sent the request: `client` and `scheme` from
        a trusted proxy's headers (the scope itself is left alone: a copy is returned)."""
        client = scope.get("client")
        peer = client[0] if client else None
        if not self.trusts(peer):
            return scope
        forwarded_for = proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                # several headers are one list, in order (RFC 9110, 5.3)
                text = value.decode("latin-1")
                forwarded_for = f"{forwarded_for},{text}" if forwarded_for else text
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        rewritten = dict(scope)
        address = self.client_of(peer, forwarded_for)
        if address != peer:
            rewritten["client"] = (address, 0)
        rewritten["scheme"] = self.scheme_of(peer, scope.get("scheme", "http"), proto)
        return rewritten
