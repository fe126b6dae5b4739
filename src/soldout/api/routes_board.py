"""The ideas board for fans: read a product's ideas, releases and polls (anyone); post
ideas, vote, comment, report and answer polls (a fan). The maker's routes are in
`routes_board_admin.py`; both use the one error contract (`api/errors.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from soldout.api.board_views import (
    AnswerIn,
    CommentIn,
    IdeaIn,
    ReportIn,
    author_names,
    comment_view,
    idea_view,
    poll_view,
    release_view,
)
from soldout.api.deps import Credentials, FanAuth, platform_dep, platform_of, web_fan
from soldout.api.openapi import RATE_LIMITED, DocumentedRoute
from soldout.domain.errors import NotFound
from soldout.services import Platform
from soldout.services.board_state import IdeaQuery

__all__ = ["router", "viewer"]

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute, tags=["ideas board"])
PlatformDep = Annotated[Platform, Depends(platform_dep)]
ANYONE: dict[str, Any] = {"security": [{}]}


def viewer(request: Request, credentials: Credentials) -> tuple[str | None, bool]:
    """Who reads: (the fan, if a fan's token or session is given; whether it is the maker)."""
    tokens = platform_of(request).tokens
    if credentials is not None:
        if tokens.is_admin(credentials.credentials):
            return None, True
        return tokens.fan_of(credentials.credentials), False
    return web_fan(request), False


Viewer = Annotated[tuple[str | None, bool], Depends(viewer)]


async def _product(platform: Platform, product_id: str, *, maker: bool = False) -> None:
    product = await platform.store.products.get(product_id)
    if product is None or product.rehearsal is not None:
        raise NotFound("product")
    platform.board.require_public(product_id, maker=maker)


@router.get("/products/{product_id}/ideas", openapi_extra=ANYONE)
async def list_ideas(
    product_id: str,
    platform: PlatformDep,
    who: Viewer,
    sort: Annotated[str, Query(description="hot, top or new")] = "hot",
    status: str | None = None,
    category: str | None = None,
    q: Annotated[str, Query(max_length=200, description="words to find")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """A product's board: `hot` ranks by votes that weigh half as much each week."""
    fan_id, maker = who
    await _product(platform, product_id, maker=maker)
    state, now = platform.board.state, platform.clock.now()
    query = IdeaQuery(sort, status, category, q, limit, offset)
    total, ideas = state.list_ideas(product_id, query, now, maker=maker)
    names = await author_names(platform.store, (i.fan_id for i in ideas))
    return {
        "total": total,
        "ideas": [idea_view(i, state, now, names, fan_id) for i in ideas],
        "categories": state.categories(product_id),
    }


@router.post("/products/{product_id}/ideas", status_code=201, responses=RATE_LIMITED)
async def post_idea(
    product_id: str, body: IdeaIn, fan_id: FanAuth, platform: PlatformDep
) -> dict[str, Any]:
    """Post an idea or a problem report; the author's vote comes with it. New accounts
    may post 3 times an hour (ideas and comments), others 30."""
    idea = await platform.board.post(
        fan_id, product_id, body.kind, body.title, body.text, body.category
    )
    names = await author_names(platform.store, [fan_id])
    return idea_view(idea, platform.board.state, platform.clock.now(), names, fan_id)


@router.get("/ideas/{idea_id}", openapi_extra=ANYONE)
async def get_idea(idea_id: str, platform: PlatformDep, who: Viewer) -> dict[str, Any]:
    """An idea with its comments (the maker's official answers marked)."""
    fan_id, maker = who
    state = platform.board.state
    idea = state.idea(idea_id, maker=maker)
    platform.board.require_public(idea.product_id, maker=maker)
    comments = state.comments_on(idea_id, maker=maker)
    names = await author_names(platform.store, [idea.fan_id, *(c.fan_id for c in comments)])
    view = idea_view(idea, state, platform.clock.now(), names, fan_id)
    view["comment_list"] = [comment_view(c, names) for c in comments]
    return view


@router.put("/ideas/{idea_id}/vote")
async def vote(idea_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """Vote once; voting again changes nothing (the answer says so: `new` false)."""
    new = await platform.board.vote(fan_id, idea_id)
    votes = len(platform.board.state.votes.get(idea_id, {}))
    return {"idea_id": idea_id, "voted": True, "new": new, "votes": votes}


@router.delete("/ideas/{idea_id}/vote")
async def unvote(idea_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """Take the vote back (nothing to take back is not an error: `removed` false)."""
    removed = await platform.board.unvote(fan_id, idea_id)
    votes = len(platform.board.state.votes.get(idea_id, {}))
    return {"idea_id": idea_id, "voted": False, "removed": removed, "votes": votes}


@router.post("/ideas/{idea_id}/comments", status_code=201, responses=RATE_LIMITED)
async def comment(
    idea_id: str, body: CommentIn, fan_id: FanAuth, platform: PlatformDep
) -> dict[str, Any]:
    made = await platform.board.comment(fan_id, idea_id, body.text)
    return comment_view(made, await author_names(platform.store, [fan_id]))


@router.post(
    "/reports", status_code=201, responses={404: {"description": "no such idea or comment"}}
)
async def report(body: ReportIn, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """Report an idea or a comment to the maker (a second report of the same post by the
    same fan returns the first)."""
    made = await platform.moderation.report(fan_id, body.subject_id, body.reason)
    return {"id": made.id, "subject_id": made.subject_id, "created_at": made.created_at}


@router.get("/products/{product_id}/releases", openapi_extra=ANYONE)
async def list_releases(
    product_id: str, platform: PlatformDep, who: Viewer
) -> list[dict[str, Any]]:
    await _product(platform, product_id, maker=who[1])
    state = platform.board.state
    return [release_view(r, state) for r in state.releases_of(product_id)]


@router.get("/releases/{release_id}", openapi_extra=ANYONE)
async def get_release(release_id: str, platform: PlatformDep, who: Viewer) -> dict[str, Any]:
    state = platform.board.state
    release = state.release(release_id)
    platform.board.require_public(release.product_id, maker=who[1])
    return release_view(release, state)


@router.get("/products/{product_id}/polls", openapi_extra=ANYONE)
async def list_polls(product_id: str, platform: PlatformDep, who: Viewer) -> list[dict[str, Any]]:
    fan_id, maker = who
    await _product(platform, product_id, maker=maker)
    news, now = platform.board_news, platform.clock.now()
    return [
        poll_view(p, await news.results(p), now, _answer(platform, p.id, fan_id))
        for p in platform.board.state.polls_of(product_id, maker=maker)
    ]


def _answer(platform: Platform, poll_id: str, fan_id: str | None) -> str | None:
    return platform.board.state.answers.get(poll_id, {}).get(fan_id or "")


@router.get("/polls/{poll_id}", openapi_extra=ANYONE)
async def get_poll(poll_id: str, platform: PlatformDep, who: Viewer) -> dict[str, Any]:
    """A poll with its results: per option, every answer and verified buyers' apart."""
    fan_id, maker = who
    poll = platform.board.state.poll(poll_id, maker=maker)
    platform.board.require_public(poll.product_id, maker=maker)
    results = await platform.board_news.results(poll)
    return poll_view(poll, results, platform.clock.now(), _answer(platform, poll_id, fan_id))


@router.put("/polls/{poll_id}/answer")
async def answer_poll(
    poll_id: str, body: AnswerIn, fan_id: FanAuth, platform: PlatformDep
) -> dict[str, Any]:
    """One answer per fan; answering again changes it while the poll is open."""
    key = await platform.board_news.answer(fan_id, poll_id, body.option)
    return {"poll_id": poll_id, "your_answer": key}
