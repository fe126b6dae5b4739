"""What each e-mail says, in English, Dutch and Chinese, read back with the standard
library's MIME parser: subject, both bodies, absolute links, the fan's own time zone
named, escaping, and the messages that are dropped because they are no longer true."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import pytest

from soldout.clock import FakeClock
from soldout.domain.claims import Claim, Order
from soldout.domain.launches import LaunchRules, Mode
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.products import Sku
from soldout.domain.shop import Shop
from soldout.engine.maker_news import TEAM_KINDS
from soldout.ids import new_id
from soldout.mail.compose import KINDS, Composer, sender_address
from soldout.mail.facts import EngineFacts
from soldout.mail.letter import Obsolete
from soldout.services import Platform
from soldout.store.ports import OutgoingEmail

WINTER = datetime(2030, 1, 15, 11, 50, tzinfo=UTC)  # Amsterdam is UTC+1, Shanghai UTC+8
SHOP = Shop(name="Model Makers", accent="#ffd400")
LANGUAGES = [("en", "Europe/London"), ("nl", "Europe/Amsterdam"), ("zh_Hans", "Asia/Shanghai")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WINTER)


@dataclass
class Scene:
    platform: Platform
    composer: Composer
    fan_id: str
    soon: str  # a launch opening in 10 minutes, which the fan reserved
    claim: Claim  # held, in a launch on sale
    order: Order  # paid, in the same launch
    notes: dict[str, Notification]  # one of each kind the engine writes, and the new ones


@pytest.fixture
async def scene(platform: Platform, clock: FakeClock) -> Scene:
    return await make_scene(platform, clock)


async def make_scene(platform: Platform, clock: FakeClock) -> Scene:
    skus = [
        Sku("BLK", "Model One 64 GB black", Money(19900, "EUR"), Money(9000, "EUR")),
        Sku("WHT", "Model One 64 GB white", Money(19900, "EUR"), Money(9000, "EUR")),
    ]
    product = await platform.catalog.create_product("Model One", "", skus)
    soon = await platform.catalog.create_launch(
        product_id=product.id,
        title="Model One, second batch",
        sale_opens_at=clock.now() + timedelta(minutes=10),
        rules=LaunchRules(),
        batch={"BLK": 5},
    )
    on_sale = await platform.catalog.create_launch(
        product_id=product.id,
        title="Model One, first batch",
        sale_opens_at=clock.now() - timedelta(minutes=1),
        rules=LaunchRules(per_fan_limit=2),
        batch={"BLK": 5, "WHT": 5},
    )
    fan, _ = await platform.fans.register("ann@fans.test", "Ann Fan")
    await platform.fans.reserve(soon.launch.id, fan.id, None)
    held = (await platform.engine.claim(fan.id, on_sale.launch.id, "WHT", 1, "k1")).claim
    bought = (await platform.engine.claim(fan.id, on_sale.launch.id, "BLK", 1, "k2")).claim
    paid = await platform.engine.pay(fan.id, bought.id, "test", "tok_ok", "pay-1")
    assert paid.order is not None
    order = paid.order
    await platform.engine.refund_order(order, "the maker cancelled the colour")
    written = {n.kind: n for n in await platform.store.notifications.for_fan(fan.id, 50)}
    now = clock.now()

    def note(kind: str, **data: Any) -> Notification:
        return Notification(new_id("ntf"), fan.id, kind, f"in-app text of {kind}", now, data)

    until = (held.expires_at).isoformat()
    made = {
        "sign_in_link": note(
            "sign_in_link",
            path="/signin/tok.en",
            url="https://evil.example/signin/tok.en",  # what a forged Host would make
            expires_at=(now + timedelta(minutes=15)).isoformat(),
        ),
        "sale_opening": note(
            "sale_opening",
            launch_id=soon.launch.id,
            sale_opens_at=soon.launch.sale_opens_at.isoformat(),
            draw=False,
        ),
        "draw_won": note(
            "draw_won",
            claim_id=held.id,
            launch_id=on_sale.launch.id,
            sku="WHT",
            backup=False,
            expires_at=until,
        ),
        "draw_lost": note("draw_lost", launch_id=on_sale.launch.id, sku="WHT", backup_place=3),
        "admitted": note(  # (where the fan holds nothing yet: else it is not sent)
            "admitted",
            launch_id=soon.launch.id,
            admitted_at=now.isoformat(),
            expires_at=(now + timedelta(minutes=2)).isoformat(),
        ),
        "claim_expiring": note(
            "claim_expiring",
            claim_id=held.id,
            launch_id=on_sale.launch.id,
            sku="WHT",
            expires_at=until,
        ),
        "payment_declined": note("payment_declined", payment_id="pay_x", claim_id=held.id),
        "payment_refunded": note("payment_refunded", payment_id="pay_x", claim_id=held.id),
        "launch_cancelled": note("launch_cancelled", launch_id=soon.launch.id),
        "opening_moved": note(
            "opening_moved",
            launch_id=soon.launch.id,
            before=(soon.launch.sale_opens_at + timedelta(hours=2)).isoformat(),
            after=soon.launch.sale_opens_at.isoformat(),
            draw=False,
        ),
        "priority_code_granted": note(
            "priority_code_granted", launch_id=soon.launch.id, codes=["F-AAAA-BBBB-CCCC"]
        ),
        "contributor_code": note(
            "contributor_code", launch_id=soon.launch.id, codes=["F-DDDD-EEEE-FFFF"]
        ),
        "idea_shipped": note(
            "idea_shipped",
            release_id="rls_x",
            release_title="firmware 1.4",
            idea_titles=["A white model", "Louder speaker"],
        ),
        "ship_date_changed": note(
            "ship_date_changed", order_id=order.id, before="2030-02-01", after="2030-02-08"
        ),
        "order_shipped": note(
            "order_shipped", order_id=order.id, carrier="PostNL", tracking="3SABC123"
        ),
        "tracking_changed": note(
            "tracking_changed", order_id=order.id, carrier="DHL", tracking="JD01", before="3SA1"
        ),
        "order_refunded_part": note(
            "order_refunded_part",
            order_id=order.id,
            refund_id="rfd_x",
            amount=1000,
            currency="EUR",
            reason="a scratch on the lid",
        ),
    }
    composer = Composer(
        sender=Address(addr_spec="shop@shop.test"),
        base_url="https://shop.test/",
        facts=EngineFacts(platform.engine),
    )
    return Scene(platform, composer, fan.id, soon.launch.id, held, order, {**written, **made})


async def mail(
    scene: Scene,
    note: Notification,
    locale: str = "en",
    zone: str = "Europe/London",
    *,
    name: str = "Ann Fan",
    shop: Shop = SHOP,
    at: datetime | None = None,
) -> EmailMessage:
    outgoing = OutgoingEmail(note, "ann@fans.test", name, locale, zone, 0)
    now = at or scene.platform.clock.now()
    return (await scene.composer.compose(outgoing, shop, now)).parsed()


def bodies(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def test_every_kind_of_notification_has_a_letter() -> None:
    kinds = {
        "sign_in_link",
        "reservation_confirmed",
        "sale_opening",
        "draw_won",
        "draw_lost",
        "admitted",
        "claim_expiring",
        "order_confirmed",
        "ship_date_changed",
        "order_shipped",
        "tracking_changed",
        "order_refunded",
        "order_refunded_part",
        "payment_refunded",
        "payment_declined",
        "launch_cancelled",
        "opening_moved",
        "priority_code_granted",
        "contributor_code",
        "idea_shipped",
        *TEAM_KINDS,  # the maker's, to the team (tests/unit/test_mail_team.py)
    }
    assert set(KINDS) == kinds


@pytest.mark.parametrize(("locale", "zone"), LANGUAGES)
async def test_every_letter_reads_whole_in_each_language(
    scene: Scene, locale: str, zone: str
) -> None:
    english = {}
    for kind in KINDS.keys() - TEAM_KINDS:  # (the team's are in English only)
        if kind == "payment_declined":
            continue  # needs the claim still held: checked below with the others
        message = await mail(scene, scene.notes[kind])
        english[kind] = message["Subject"]
    for kind, note in scene.notes.items():
        message = await mail(scene, note, locale, zone)
        text, html = bodies(message)
        subject = str(message["Subject"])
        assert subject, kind
        for part in (subject, text, html):
            assert "%(" not in part, (kind, part)  # every placeholder was filled
        assert message["Content-Language"] == locale.replace("_", "-")
        assert message["Message-ID"] == f"<{note.id}@shop.test>"
        assert message["To"] == "Ann Fan <ann@fans.test>"
        assert message["From"] == "Model Makers <shop@shop.test>"  # the shop's name
        links = re.findall(r'href="([^"]+)"', html)
        assert links, kind
        assert all(link.startswith("https://") for link in links), kind
        assert links[0] in text  # the button's link is in the plain text too
        assert "Model Makers" in text
        assert "Model Makers" in html
        if locale != "en" and kind in english:
            assert subject != english[kind], (kind, "not translated")


async def test_a_sign_in_link_goes_to_the_shops_own_address_whatever_host_asked(
    scene: Scene,
) -> None:
    """The request that asked for the link may have claimed any Host: the letter's button
    is built from the shop's configured address and the link's path only."""
    text, html = bodies(await mail(scene, scene.notes["sign_in_link"]))
    assert re.findall(r'href="([^"]+)"', html)[0] == "https://shop.test/signin/tok.en"
    assert "evil.example" not in text + html


async def test_a_join_link_says_why_it_was_sent(scene: Scene) -> None:
    """The join page answers alike whether the address has an account: only the mailbox
    learns which, from the letter's words; each letter carries the sign-in button."""
    asked = scene.notes["sign_in_link"]
    letters = {}
    for reason in ("joined", "join_again"):
        note = replace(asked, data={**asked.data, "reason": reason})
        letters[reason] = await mail(scene, note)
    assert letters["joined"]["Subject"] == "Welcome to Model Makers: your sign-in link"
    assert letters["join_again"]["Subject"] == "You already have an account at Model Makers"
    text, html = bodies(letters["join_again"])
    assert "Someone tried to join Model Makers with this e-mail address" in text
    assert "your account stays as it was" in text
    for letter in letters.values():
        text, html = bodies(letter)
        assert re.findall(r'href="([^"]+)"', html)[0] == "https://shop.test/signin/tok.en"


async def test_a_draw_win_says_pay_by_in_the_fans_own_zone_with_the_pay_link(
    scene: Scene,
) -> None:
    note = scene.notes["draw_won"]
    deadline = scene.claim.expires_at  # 12:05 UTC: 13:05 in Amsterdam, 20:05 in Shanghai
    assert deadline == WINTER + timedelta(minutes=15)
    english = await mail(scene, note)
    assert english["Subject"].startswith("You won: pay by 12:05 (")  # London: UTC+0
    dutch = await mail(scene, note, "nl", "Europe/Amsterdam")
    assert dutch["Subject"].startswith("Gewonnen: betaal vóór 13:05 (")
    assert "Midden-Europese" in dutch["Subject"]  # the zone is named, in Dutch
    chinese = await mail(scene, note, "zh_Hans", "Asia/Shanghai")
    assert "20:05" in chinese["Subject"]
    assert "中国" in chinese["Subject"]
    text, html = bodies(dutch)
    pay = f"https://shop.test/claims/{scene.claim.id}"
    assert f'href="{pay}"' in html
    assert pay in text
    assert "Model One 64 GB white" in text
    assert "€\xa0199,00" in text  # money as a Dutch reader writes it


async def test_an_order_confirmation_carries_the_total_and_the_ship_date(
    scene: Scene,
) -> None:
    note = scene.notes["order_confirmed"]
    message = await mail(scene, note, "en", "Europe/London")
    text, _ = bodies(message)
    assert message["Subject"] == "Order confirmed: Model One 64 GB black"
    assert "€199.00" in text
    assert f"https://shop.test/orders/{scene.order.id}" in text
    day = note.data["ship_date"]
    if day is None:
        assert "ship date follows" in text
    else:
        assert f"Ships on: {day}" not in text  # said as a reader says a date, not ISO


async def test_a_part_refund_says_how_much_why_and_that_the_order_stands(scene: Scene) -> None:
    message = await mail(scene, scene.notes["order_refunded_part"])
    text, _ = bodies(message)
    assert message["Subject"] == f"Part of your order {scene.order.id} was refunded"
    assert f"We refunded €10.00 of your order {scene.order.id}." in text
    assert "it ships as planned" in text
    assert "Reason: a scratch on the lid" in text


async def test_a_refund_says_how_much_and_why(scene: Scene) -> None:
    text, _ = bodies(await mail(scene, scene.notes["order_refunded"], "nl", "Europe/Amsterdam"))
    assert "€\xa0199,00 terugbetaald" in text
    assert "Reden: the maker cancelled the colour" in text


@pytest.mark.parametrize(
    ("why", "said"),
    [
        (None, "no longer held for you when the payment came through"),
        ("late", "no longer held for you when the payment came through"),
        ("given_up", "after you had cancelled it on the payment page or started another"),
        ("unrecorded", "the order could not be recorded"),
    ],
)
async def test_a_payment_given_back_says_why_it_was(
    scene: Scene, why: str | None, said: str
) -> None:
    """A fan who paid twice is not told the unit was lost (as every such e-mail said)."""
    first = scene.notes["payment_refunded"]
    data = {**first.data, "why": why} if why else first.data
    words = " ".join(bodies(await mail(scene, replace(first, data=data)))[0].split())
    assert "was refunded in full" in words
    assert said in words
    reasons = ("no longer held", "after you had cancelled", "could not be recorded")
    assert [r for r in reasons if r in words] == [r for r in reasons if r in said]


async def test_a_shipment_gives_the_carrier_and_tracking(scene: Scene) -> None:
    message = await mail(scene, scene.notes["order_shipped"])
    text, html = bodies(message)
    assert message["Subject"] == "Shipped: Model One 64 GB black"
    assert "Tracking number: 3SABC123" in text
    assert "PostNL" in html


async def test_a_tracking_change_gives_the_new_number_and_the_one_it_replaces(
    scene: Scene,
) -> None:
    message = await mail(scene, scene.notes["tracking_changed"])
    text, _ = bodies(message)
    assert message["Subject"] == "Tracking number for Model One 64 GB black"
    assert "Tracking number: JD01" in text
    assert "Carrier: DHL" in text
    assert "This tracking number replaces 3SA1, which we sent you earlier." in text


async def test_the_opening_reminder_counts_the_minutes_when_it_goes(
    scene: Scene, clock: FakeClock
) -> None:
    note = scene.notes["sale_opening"]
    assert (await mail(scene, note))["Subject"] == "Model One, second batch opens in 10 minutes"
    late = await mail(scene, note, at=clock.now() + timedelta(minutes=7))
    assert late["Subject"] == "Model One, second batch opens in 3 minutes"
    one = await mail(scene, note, "nl", "Europe/Amsterdam", at=clock.now() + timedelta(minutes=9))
    assert one["Subject"] == "Model One, second batch: de verkoop begint over 1 minuut"
    with pytest.raises(Obsolete, match="opened"):
        await mail(scene, note, at=clock.now() + timedelta(minutes=9, seconds=45))


async def test_a_reminder_of_an_opening_that_moved_is_dropped(
    scene: Scene, clock: FakeClock
) -> None:
    book = scene.platform.engine.book(scene.soon)
    moved = book.launch.with_changes(sale_opens_at=clock.now() + timedelta(hours=2))
    await scene.platform.engine.launches.change(moved)
    with pytest.raises(Obsolete, match="moved"):
        await mail(scene, scene.notes["sale_opening"])
    # the reservation's confirmation, sent late, gives the new time, not the one it had
    text, _ = bodies(await mail(scene, scene.notes["reservation_confirmed"]))
    assert "13:50" in text
    assert "12:00" not in text


async def test_a_moved_opening_is_mailed_with_the_old_and_the_new_time(
    scene: Scene, clock: FakeClock
) -> None:
    """The notice the move wrote, mailed in the fan's zone: 12:00 UTC moved to 13:50 UTC
    is 13:00 to 14:50 in Amsterdam, 20:00 to 21:50 in Shanghai."""
    engine, notes = scene.platform.engine, scene.platform.store.notifications
    book = engine.book(scene.soon)
    await engine.launches.change(
        book.launch.with_changes(sale_opens_at=WINTER + timedelta(hours=2))
    )
    (note,) = [n for n in await notes.for_fan(scene.fan_id, 50) if n.kind == "opening_moved"]
    english = await mail(scene, note)
    assert english["Subject"] == "New opening time for Model One, second batch"
    text = " ".join(bodies(english)[0].split())
    assert (
        "The maker moved the opening of Model One, second batch from 12:00 (British Time) to"
        " 13:50 (British Time)." in text
    )
    assert "Your reservation stands" in text
    assert "We will e-mail you 10 minutes before it opens." in text
    assert f"https://shop.test/launches/{scene.soon}" in text
    for locale, zone, was, now in (
        ("nl", "Europe/Amsterdam", "13:00 (Midden-Europese", "14:50 (Midden-Europese"),
        ("zh_Hans", "Asia/Shanghai", "20:00 (中国", "21:50 (中国"),
    ):
        words = " ".join(bodies(await mail(scene, note, locale, zone))[0].split())
        assert was in words
        assert now in words
        assert words.index(was) < words.index(now)  # from the old time to the new

    await engine.launches.change(
        book.launch.with_changes(sale_opens_at=WINTER + timedelta(hours=3))
    )
    with pytest.raises(Obsolete, match="moved again"):  # the later move has its own notice
        await mail(scene, note)
    await engine.launches.change(book.launch.with_changes(cancelled_at=clock.now()))
    with pytest.raises(Obsolete, match="cancelled"):
        await mail(scene, note)


async def test_a_moved_draw_says_the_entry_stands(scene: Scene) -> None:
    note = scene.notes["opening_moved"]
    engine = scene.platform.engine
    book = engine.book(scene.soon)
    book.launch = book.launch.with_changes(rules=LaunchRules(mode=Mode.DRAW))
    message = await mail(scene, note)
    text = " ".join(bodies(message)[0].split())
    assert message["Subject"] == "New time for the draw for Model One, second batch"
    assert "moved the draw for Model One, second batch from 14:00" in text
    assert "Your entry stands" in text


async def test_a_claim_paid_before_its_reminder_went_is_not_reminded(scene: Scene) -> None:
    engine = scene.platform.engine
    await engine.pay(scene.fan_id, scene.claim.id, "test", "tok_ok", "pay-2")
    for kind in ("claim_expiring", "draw_won", "payment_declined"):
        with pytest.raises(Obsolete, match="no longer held"):
            await mail(scene, scene.notes[kind])


async def test_html_is_escaped_and_no_header_can_be_slipped_in(scene: Scene) -> None:
    book = scene.platform.engine.book(scene.soon)
    await scene.platform.engine.launches.change(
        book.launch.with_changes(title="<script>alert(1)</script> & co")
    )
    message = await mail(
        scene,
        scene.notes["sale_opening"],
        name="Eve\r\nBcc: thief@evil.test",
        shop=Shop(name='Shop "<b>"'),
    )
    assert message["Bcc"] is None
    assert message["To"].addresses[0].addr_spec == "ann@fans.test"
    text, html = bodies(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<b>" not in html
    assert "<script>alert(1)</script> & co" in text  # plain text is not escaped


async def test_a_kind_without_a_letter_is_sent_with_its_in_app_text(scene: Scene) -> None:
    note = Notification(new_id("ntf"), scene.fan_id, "welcome", "Welcome aboard!", WINTER, {})
    message = await mail(scene, note, "nl", "Europe/Amsterdam")
    text, _ = bodies(message)
    assert message["Subject"] == "Een bericht van Model Makers"
    assert "Welcome aboard!" in text


async def test_chinese_goes_as_base64_and_reads_back(scene: Scene) -> None:
    envelope = await scene.composer.compose(
        OutgoingEmail(scene.notes["draw_lost"], "ann@fans.test", "安", "zh_Hans", None, 0),
        SHOP,
        WINTER,
    )
    assert envelope.data.isascii()  # 7-bit: any relay takes it
    assert b"Content-Transfer-Encoding: base64" in envelope.data
    text, _ = bodies(envelope.parsed())
    assert "候补名单" in text
    assert "安\uff0c您好" in text  # "Hello An," with a full-width comma


def test_the_sender_is_one_address() -> None:
    assert sender_address("Shop <shop@example.com>", "x").display_name == "Shop"
    assert sender_address(None, "shop.example.com").addr_spec == "noreply@shop.example.com"
    assert sender_address(None, "127.0.0.1").addr_spec == "noreply@localhost"
    for wrong in ("not an address", "a@b.c, d@e.f", "<>"):
        with pytest.raises(ValueError, match="one e-mail address"):
            sender_address(wrong, "x")
