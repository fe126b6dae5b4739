"""Where the load goes: a server on this machine, either given (`--target`, loopback
unless `--allow-remote`) or started here for the run and stopped after it."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from soldout.rehearsal.scenario import ServerSpec
from soldout.rehearsal.stage import RehearsalError

__all__ = ["Target", "check_target", "local_server"]


@dataclass(frozen=True, slots=True)
class Target:
    base_url: str
    admin_token: str = field(repr=False)
    started_here: bool = False


def check_target(url: str, allow_remote: bool) -> str:
    """The URL without a trailing slash, or a `RehearsalError` saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RehearsalError(f"--target {url!r} is not an http:// or https:// URL")
    if not allow_remote and not is_loopback(parts.hostname):
        raise RehearsalError(
            f"--target {parts.hostname} is not this machine (loopback): a rehearsal is a load "
            "test; pass --allow-remote to aim it at a server you run elsewhere"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def local_server(
    data: Path, log_path: Path, spec: ServerSpec, timeout: float = 30.0
) -> Iterator[Target]:
    """`python -m soldout serve` on a free loopback port with its own admin token and the
    scenario's rate limits; stopped (SIGTERM, then SIGKILL) when the block ends."""
    port = _free_port()
    token = "adm_rehearsal_" + secrets.token_urlsafe(18)
    env = {
        **os.environ,
        "SOLDOUT_ADMIN_TOKEN": token,
        "SOLDOUT_LOG_LEVEL": "warning",
        "SOLDOUT_RATE_LIMIT_FAN": repr(spec.rate_limit_fan),
        "SOLDOUT_RATE_LIMIT_FAN_BURST": str(spec.rate_limit_fan_burst),
        "SOLDOUT_RATE_LIMIT_ADDRESS": repr(spec.rate_limit_address),
        "SOLDOUT_RATE_LIMIT_ADDRESS_BURST": str(spec.rate_limit_address_burst),
    }
    for name in ("SOLDOUT_DATA", "SOLDOUT_HOST", "SOLDOUT_PORT", "SOLDOUT_STORE"):
        env.pop(name, None)  # the flags below decide; a setting for another server must not
    data.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "soldout", "serve", "--data", str(data), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_ready(base_url, process, log_path, timeout)
        yield Target(base_url, token, started_here=True)
    finally:
        _stop(process)


def _wait_until_ready(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)  # not listening yet
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RehearsalError(f"the soldout server did not start (its log, {log_path}):\n{tail}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
