"""The demo's ideas board: a few fans' ideas with votes, the maker's answer and a poll that
sizes the next round, so `soldout demo` shows the board as a shop in use would."""

from __future__ import annotations

from soldout.domain.products import Product
from soldout.services.platform import Platform

__all__ = ["seed_board"]

FANS = (
    ("Lena Vos", "lena@fans.example"),
    ("Ravi Shah", "ravi@fans.example"),
    ("Mei Lin", "mei@fans.example"),
)
IDEAS = (
    ("A white 128 GB model", "The 128 GB one only comes in black.", "colours"),
    ("Longer battery life", "Two days away from a charger, please.", "battery"),
    ("A case in the box", "", "accessories"),
)
ANSWER = "Planned for the second round: tell us in the poll how many of you want it."
QUESTION = "Which colour should the second round bring more of?"


async def seed_board(platform: Platform, product: Product) -> None:
    """Once per product: three fans post an idea each and vote for the first; the maker
    plans it and answers; a poll asks which colour the next round should bring more of."""
    if any(i.product_id == product.id for i in platform.board.state.ideas.values()):
        return
    fans: list[str] = []
    for name, email in FANS:
        fan = await platform.store.fans.by_email(email)
        if fan is None:
            fan, _ = await platform.fans.register(email, name)
        fans.append(fan.id)
    ideas = [
        await platform.board.post(fan_id, product.id, "idea", title, text, category)
        for fan_id, (title, text, category) in zip(fans, IDEAS, strict=True)
    ]
    for fan_id in fans[1:]:
        await platform.board.vote(fan_id, ideas[0].id)
    await platform.board.vote(fans[2], ideas[1].id)
    await platform.board.move(ideas[0].id, "planned")
    await platform.board.comment(None, ideas[0].id, ANSWER)
    names = {s.code: s.name for s in product.skus}
    options = [{"label": names[c], "sku": c} for c in ("M1-64-BLK", "M1-64-WHT") if c in names]
    if len(options) == 2:
        await platform.board_news.ask(product, QUESTION, options, None)
