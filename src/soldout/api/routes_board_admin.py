"""The ideas board for the maker: answer, move, merge, ship in a release, ask in a poll,
moderate (hide, dismiss a report, bar a fan), see the demand for the next batch and give
the top contributors priority codes. Admin token only; every change is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from soldout.api.board_views import (
    BarIn,
    CommentIn,
    HiddenIn,
    MergeIn,
    MoveIn,
    PollIn,
    PollPatch,
    ReleaseIn,
    RewardIn,
    UsefulIn,
    author_names,
    comment_view,
    idea_view,
    poll_view,
    release_view,
)
from soldout.api.deps import Actor, AdminAuth, platform_dep
from soldout.api.openapi import DocumentedRoute
from soldout.services import Platform

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    dependencies=[AdminAuth],
    tags=["ideas board: maker (admin token)"],
    route_class=DocumentedRoute,
)
PlatformDep = Annotated[Platform, Depends(platform_dep)]


@router.patch("/ideas/{idea_id}")
async def move_idea(
    idea_id: str, body: MoveIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Move an idea to under review, planned, in progress, declined (with the reason) or
    back to open. Shipping goes through a release; a duplicate through a merge."""
    idea = await platform.board.move(idea_id, body.status, body.reason)
    await platform.audit(actor, "idea.move", idea_id, {"status": body.status})
    names = await author_names(platform.store, [idea.fan_id])
    return idea_view(idea, platform.board.state, platform.clock.now(), names)


@router.post("/ideas/{idea_id}/answers", status_code=201)
async def answer_idea(
    idea_id: str, body: CommentIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """The maker's official answer, shown marked on the idea."""
    made = await platform.board.comment(None, idea_id, body.text)
    await platform.audit(actor, "idea.answer", idea_id, {"comment_id": made.id})
    return comment_view(made, {})


@router.post("/ideas/{idea_id}/merge")
async def merge_idea(
    idea_id: str, body: MergeIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Merge a duplicate into another idea: its votes move there, each fan counted once."""
    merged = await platform.board.merge(idea_id, body.into)
    await platform.audit(actor, "idea.merge", idea_id, {"into": body.into})
    state = platform.board.state
    into = state.idea(body.into, maker=True)
    names = await author_names(platform.store, [into.fan_id])
    return {"merged": merged.id, "into": idea_view(into, state, platform.clock.now(), names)}


@router.put("/comments/{comment_id}/useful")
async def useful(
    comment_id: str, body: UsefulIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Mark a fan's comment useful (its author earns points) or take the mark back."""
    made = await platform.board.mark_useful(comment_id, body.useful)
    await platform.audit(actor, "comment.useful", comment_id, {"useful": body.useful})
    return comment_view(made, await author_names(platform.store, [made.fan_id]))


@router.put("/board/posts/{post_id}/hidden")
async def hide(post_id: str, body: HiddenIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Hide an idea or a comment from everyone but the maker (or show it again); its open
    reports are resolved."""
    made = await platform.moderation.hide(post_id, body.hidden)
    await platform.audit(actor, "post.hide" if body.hidden else "post.show", post_id)
    return {"id": made.id, "hidden": made.hidden}


@router.get("/products/{product_id}/board/reports")
async def reports(product_id: str, platform: PlatformDep) -> list[dict[str, Any]]:
    """Reports not dealt with yet, oldest first."""
    return [
        {
            "id": r.id,
            "subject_id": r.subject_id,
            "fan_id": r.fan_id,
            "reason": r.reason,
            "created_at": r.created_at.isoformat(),
        }
        for r in platform.board.state.open_reports(product_id)
    ]


@router.post("/board/reports/{report_id}/dismiss")
async def dismiss(report_id: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Keep the post: the report is resolved."""
    done = await platform.moderation.dismiss(report_id)
    await platform.audit(actor, "report.dismiss", report_id, {"subject_id": done.subject_id})
    return {"id": done.id, "resolved": done.resolved}


@router.put("/fans/{fan_id}/board-bar")
async def bar(fan_id: str, body: BarIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Bar a fan from posting ideas and comments (the reason is shown to them), or lift it."""
    made = await platform.moderation.bar(fan_id, body.barred, body.reason)
    action = "fan.bar" if body.barred else "fan.unbar"
    await platform.audit(actor, action, fan_id, {"reason": made.reason})
    return {"fan_id": fan_id, "barred": made.barred, "reason": made.reason}


@router.post("/products/{product_id}/releases", status_code=201)
async def publish(
    product_id: str, body: ReleaseIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Publish a release that ships the ideas listed: every fan who voted for one of them
    is told, in-app and by e-mail."""
    await platform.catalog.product(product_id)
    release, told = await platform.board_news.publish(
        product_id, body.title, body.notes, body.ideas
    )
    detail = {"title": release.title, "ideas": list(release.idea_ids), "told": told}
    await platform.audit(actor, "release.publish", release.id, detail)
    return {**release_view(release, platform.board.state), "fans_told": told}


@router.post("/products/{product_id}/polls", status_code=201)
async def ask(product_id: str, body: PollIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Ask fans; an option may stand for a SKU, so its answers size that SKU's batch."""
    product = await platform.catalog.product(product_id)
    options = [o.model_dump() for o in body.options]
    poll = await platform.board_news.ask(product, body.question, options, body.closes_at)
    await platform.audit(actor, "poll.create", poll.id, {"question": poll.question})
    return poll_view(poll, await platform.board_news.results(poll), platform.clock.now())


@router.patch("/polls/{poll_id}")
async def change_poll(
    poll_id: str, body: PollPatch, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Close a poll (or open it again), hide it (or show it)."""
    poll = platform.board.state.poll(poll_id, maker=True)
    closed = poll.closed if body.closed is None else body.closed
    changed = await platform.board_news.close(poll_id, closed=closed, hidden=body.hidden)
    await platform.audit(actor, "poll.change", poll_id, body.model_dump(exclude_unset=True))
    news = platform.board_news
    return poll_view(changed, await news.results(changed), platform.clock.now())


@router.get("/products/{product_id}/demand")
async def demand(
    product_id: str,
    platform: PlatformDep,
    total: Annotated[int | None, Query(ge=0, le=10_000_000)] = None,
) -> dict[str, Any]:
    """What the next batch could be: per SKU, fans whose reservation got no unit yet, the
    newest SKU poll's answers (verified buyers' apart), and a suggested split of `total`
    units (by default, as many as fans wait). The maker decides."""
    product = await platform.catalog.product(product_id)
    seen = await platform.board_news.demand(product, total)
    poll = (
        poll_view(seen.poll, seen.results, platform.clock.now()) if seen.poll is not None else None
    )
    return {"waiting": seen.waiting, "poll": poll, "total": seen.total, "suggested": seen.suggested}


@router.get("/products/{product_id}/contributors")
async def contributors(
    product_id: str, platform: PlatformDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[dict[str, Any]]:
    """The product's most active fans by contribution points."""
    top = platform.board_news.contributors(product_id, limit)
    names = await author_names(platform.store, (f for f, _ in top))
    return [{"fan_id": f, "name": names[f], "points": p} for f, p in top]


@router.post("/products/{product_id}/contributors/codes", status_code=201)
async def reward(
    product_id: str, body: RewardIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """One priority code each for the top contributors who have none for this launch yet;
    each is told with the code. If the launch runs out of units to set aside part way,
    `stopped` says so and `given` lists those who got one (none: 409)."""
    made, stopped = await platform.board_news.reward(product_id, body.launch_id, body.top)
    detail = {"launch_id": body.launch_id, "fans": [r.fan_id for r in made], "stopped": stopped}
    await platform.audit(actor, "contributors.codes", product_id, detail)
    return {
        "launch_id": body.launch_id,
        "given": [{"fan_id": r.fan_id, "code": r.code, "points": r.points} for r in made],
        "stopped": stopped,
    }
