"""`soldout report` against a real server: a small sale with payments and a referral, a
hand-made client log, then the page and its charts checked against the server's figures;
the same without a log; and the errors a maker can meet, each one line and exit 1."""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from soldout.domain.money import Money
from soldout.reports.command import report
from soldout.reports.text import seconds
from tests.support import (
    ADMIN_TOKEN,
    ServerProcess,
    claim,
    create_launch,
    free_port,
    register,
    shipping_address,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Sale:
    launch_id: str
    fans: dict[str, str]  # name -> fan id
    margin: dict[str, Any]
    stats: dict[str, Any]
    sold_out_at: float  # seconds since opening: when the third (last) unit was claimed


def pay(client: httpx.Client, fan: dict[str, Any], claim_id: str) -> None:
    paid = client.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": uuid.uuid4().hex},
    )
    assert paid.status_code == 200, paid.text


@pytest.fixture(scope="module")
def sale(admin: httpx.Client, anyone: httpx.Client) -> Sale:
    """Batch of 3: ann (referred by rita) and ben pay, cal holds the last unit, the bot
    comes too late and gets `sold_out`."""
    launch = create_launch(admin, batch={"A": 3})
    rita = register(anyone)
    ann = anyone.post(
        "/api/v1/fans",
        json={
            "email": f"ann-{uuid.uuid4().hex[:8]}@fans.test",
            "name": "Ann",
            "referral_code": rita["referral_code"],
            "shipping": shipping_address("Ann"),
        },
    ).json()
    fans = {"ann": ann, "ben": register(anyone), "cal": register(anyone), "bot": register(anyone)}
    for name in ("ann", "ben", "cal"):
        held = claim(anyone, launch["id"], fans[name]["token"])
        assert held.status_code == 201, held.text
        if name != "cal":
            pay(anyone, fans[name], held.json()["id"])
    late = claim(anyone, launch["id"], fans["bot"]["token"])
    assert late.status_code == 409, late.text
    base = f"/api/v1/launches/{launch['id']}"
    claims = admin.get(base + "/claims").json()["claims"]
    last_unit = datetime.fromisoformat(claims[2]["created_at"])
    opens = datetime.fromisoformat(launch["sale_opens_at"])
    return Sale(
        launch_id=launch["id"],
        fans={name: fan["id"] for name, fan in fans.items()},
        margin=admin.get(base + "/margin").json(),
        stats=admin.get(base + "/stats").json(),
        sold_out_at=(last_unit - opens).total_seconds(),
    )


def line(
    t: float,
    kind: str,
    status: int,
    actor: str,
    fan: str | None,
    ms: float,
    code: str | None = None,
) -> dict[str, Any]:
    """A line as `soldout rehearse` writes it: times in seconds since the opening."""
    return {
        "t_start": t,
        "t_end": t + ms / 1000,
        "latency_ms": ms,
        "kind": kind,
        "status": status,
        "code": code,
        "actor": actor,
        "fan": fan,
        "sku": None,
        "attempt": 1,
    }


def client_log(sale: Sale, path: Path) -> Path:
    """What a rehearsal would have written: its own set-up, registrations (no fan id yet),
    claims and a payment, a bot that timed out and then lost, and a garbage line."""
    f = sale.fans
    lines = [
        line(-9.0, "setup", 201, "setup", None, 4.0),
        line(-8.0, "register", 201, "fan", None, 3.0),
        line(0.1, "claim", 201, "fan", f["ann"], 12.0),
        "{garbage",
        line(0.3, "claim", 201, "fan", f["ben"], 20.0),
        line(0.6, "claim", 201, "fan", f["cal"], 35.0),
        line(1.2, "pay", 200, "fan", f["ann"], 80.0),
        line(1.3, "claim", 0, "bot", f["bot"], 10_000.0, "timeout"),
        line(11.4, "claim", 409, "bot", f["bot"], 5.0, "sold_out"),
    ]
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(report, list(args), catch_exceptions=False)


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs))


def images_of(page: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "link" not in parser.tags  # no external style sheet
    return parser.images


def assert_png(path: Path) -> tuple[int, int]:
    """A whole PNG: signature, IHDR first, every chunk's CRC right, IEND last."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    at, kinds = len(PNG_SIGNATURE), []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, (path, kind)
        kinds.append(kind)
        at += 12 + length
    assert (kinds[0], kinds[-1]) == (b"IHDR", b"IEND")
    assert b"IDAT" in kinds
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_page(out: Path) -> str:
    page = (out / "index.html").read_text(encoding="utf-8")
    images = images_of(page)
    assert images
    for image in images:
        src, alt = image.get("src"), image.get("alt")
        assert src, image
        assert "/" not in src, src  # beside the page: not a URL, not elsewhere
        assert ":" not in src, src
        assert len(alt or "") > 40, image
        assert assert_png(out / src) == (int(image["width"] or 0), int(image["height"] or 0))
    return page


def money(line: dict[str, Any], key: str) -> str:
    return str(Money(line[key], "EUR"))


def test_a_rehearsal_report_names_the_servers_figures(
    shared_server: ServerProcess, sale: Sale, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    log = client_log(sale, tmp_path / "rehearsal.jsonl")
    result = run(
        sale.launch_id,
        "--url",
        shared_server.base_url,
        "--admin-token",
        ADMIN_TOKEN,
        "--log",
        str(log),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'index.html'} (6 charts)" in result.stdout
    assert "skipped 1 unreadable line of" in result.stderr
    assert "(first: line 4, not JSON)" in result.stderr

    page = check_page(out)
    total = sale.margin["totals"]["EUR"]
    assert (total["units"], total["revenue"], total["margin"]) == (2, 2000, 200)
    assert 'Units sold (paid, not refunded)</th><td class="n">2</td>' in page
    assert sum(s["paid"] for s in sale.stats["skus"].values()) == 2
    for key in ("revenue", "cost", "margin"):
        assert money(total, key) in page
    assert f"({total['margin_percent']}%)" in page
    assert "50.0% (1 of 2 paid orders through a referral)" in page
    assert f"<td>at {seconds(sale.sold_out_at)} (" in page  # 3 of 3 taken
    assert "line 4: not JSON" in page
    assert {
        "units.png",
        "requests.png",
        "latency.png",
        "funnel.png",
        "by_actor.png",
        "by_arrival.png",
    } == {p.name for p in out.glob("*.png")}
    assert "server-side only" not in page.lower()
    assert '<th scope="row">bot</th><td class="n">1</td><td class="n">0</td>' in page
    assert '<th scope="row">fan</th><td class="n">3</td><td class="n">3</td>' in page
    assert '<tr><th scope="row">Visitors</th><td class="n">4</td></tr>' in page
    assert '<tr><th scope="row">+1 s</th><td class="n">1</td><td class="n">0</td>' in page


def test_a_real_launch_without_a_log_is_server_side_only(
    shared_server: ServerProcess, sale: Sale, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOLDOUT_ADMIN_TOKEN", ADMIN_TOKEN)
    result = run(sale.launch_id, "--url", shared_server.base_url)
    assert result.exit_code == 0, result.output
    out = tmp_path / f"report-{sale.launch_id}"
    page = check_page(out)
    assert "Server-side only" in page
    assert {p.name for p in out.glob("*.png")} == {"units.png", "funnel.png"}
    assert money(sale.margin["totals"]["EUR"], "revenue") in page


@pytest.mark.parametrize(
    ("launch", "token", "message"),
    [
        ("lau_nope", ADMIN_TOKEN, "Error: no launch 'lau_nope' on {url}"),
        (None, "not-the-token", "Error: {url} refused the admin token (401)"),
    ],
)
def test_an_unknown_launch_or_a_bad_token_is_one_line_and_exit_1(
    shared_server: ServerProcess,
    sale: Sale,
    tmp_path: Path,
    launch: str | None,
    token: str,
    message: str,
) -> None:
    url = shared_server.base_url
    result = run(
        launch or sale.launch_id, "--url", url, "--admin-token", token, "--out", str(tmp_path / "r")
    )
    assert result.exit_code == 1
    assert result.output.startswith(message.format(url=url))
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("lau_1", "--url", url, "--admin-token", ADMIN_TOKEN, "--out", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot reach the soldout server at {url}")
    assert result.output.count("\n") == 1


def test_a_missing_log_is_one_line_and_exit_1(shared_server: ServerProcess, tmp_path: Path) -> None:
    result = run(
        "lau_1",
        "--url",
        shared_server.base_url,
        "--admin-token",
        ADMIN_TOKEN,
        "--log",
        str(tmp_path / "none.jsonl"),
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot read the client log")
