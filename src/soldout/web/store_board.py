"""The ideas board in the storefront, phone first: a product's board (hot, top, new,
search), an idea with its comments and the maker's answers, a release, a poll. Plain form
posts (checked for their `Origin`), each answered by a redirect, or by the page again with
the problem in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soldout import i18n
from soldout.api.board_views import author_names
from soldout.api.errors import status_for
from soldout.domain.board import Idea
from soldout.domain.errors import DomainError, NotFound, RateLimited
from soldout.i18n import gettext as _
from soldout.services import Platform
from soldout.services.board_state import IdeaQuery
from soldout.web.rich_text import markdown_html
from soldout.web.store_common import (
    fan_id_of,
    friendly,
    needs_sign_in,
    platform_of,
    read_form,
    refused,
    render,
    safe_next,
    same_origin,
    speaker_of,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE = 20


async def _product(platform: Platform, product_id: str) -> Any:
    """The product whose board a fan sees: not a rehearsal's, nor one not yet announced."""
    product = await platform.store.products.get(product_id)
    if product is None or product.rehearsal is not None:
        raise NotFound("product")
    platform.board.require_public(product_id)
    return product


def problem_words(error: DomainError) -> str:
    """A refused post in the fan's words (the domain's message is the developer's)."""
    if isinstance(error, RateLimited):
        return _("You have posted a lot in the last hour. Please try again later.")
    if error.code == "barred":
        return _("The maker has closed posting on the boards for your account.")
    words = {
        "title": _("Give your idea a short title."),
        "text": _("Write what you mean in a few lines."),
        "reason": _("Say in a few words what is wrong with it."),
        "option": _("Choose one of the answers."),
        "category": _("Keep the category to a word or two (40 characters at most)."),
    }
    if error.code == "poll_closed":
        return _("This poll is closed.")
    if error.code == "idea_closed":
        return _("Votes on this idea are closed.")
    return words.get(error.field or "", error.message)


@router.get("/products/{product_id}/ideas")
@friendly
async def board_page(
    product_id: str, request: Request, sort: str = "hot", q: str = "", page: str = "1"
) -> Response:
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1
    return await _board(request, product_id, sort, q, max(1, number))


async def _board(
    request: Request,
    product_id: str,
    sort: str,
    q: str,
    page: int,
    status: int = 200,
    problem: str | None = None,
    value: dict[str, str] | None = None,
) -> Response:
    platform = platform_of(request)
    product = await _product(platform, product_id)
    state, now, fan_id = platform.board.state, platform.clock.now(), fan_id_of(request)
    sort = sort if sort in ("hot", "top", "new") else "hot"
    query = IdeaQuery(sort, q=q[:200], limit=PAGE, offset=(page - 1) * PAGE)
    total, ideas = state.list_ideas(product.id, query, now)
    names = await author_names(platform.store, (i.fan_id for i in ideas))
    polls = [p for p in state.polls_of(product.id) if p.is_open(now)]
    return await render(
        request,
        "store/board.html",
        status,
        product=product,
        ideas=[_card(platform, i, names, fan_id) for i in ideas],
        total=total,
        sort=sort,
        q=q,
        page=page,
        pages=max(1, -(-total // PAGE)),
        releases=state.releases_of(product.id)[:3],
        polls=polls,
        launches=_launches_of(platform, product.id),
        problem=problem,
        value=value or {},
    )


def _launches_of(platform: Platform, product_id: str) -> list[Any]:
    return [
        b.launch
        for b in platform.engine.books()
        if b.launch.product_id == product_id and b.launch.published and b.launch.rehearsal is None
    ]


def _card(platform: Platform, idea: Any, names: dict[str, str], fan_id: str | None) -> Any:
    cast = platform.board.state.votes.get(idea.id, {})
    return {
        "idea": idea,
        "votes": len(cast),
        "voted": fan_id in cast if fan_id else False,
        "author": names.get(idea.fan_id, "a fan"),
        "comments": len(platform.board.state.comments_on(idea.id)),
    }


@router.post("/products/{product_id}/ideas")
@friendly
async def post_idea(product_id: str, request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    fields = posted.fields
    try:
        idea = await posted.platform.board.post(
            posted.fan_id,
            product_id,
            fields.get("kind", "idea"),
            fields.get("title", ""),
            fields.get("text", ""),
            fields.get("category", ""),
        )
    except DomainError as error:
        status, words = _in_words(request, error)
        return await _board(request, product_id, "new", "", 1, status, words, fields)
    return RedirectResponse(f"/ideas/{idea.id}", status_code=303)


@dataclass(frozen=True, slots=True)
class Posted:
    """One of the board's forms, posted by a signed-in fan from this site."""

    fan_id: str
    platform: Platform
    fields: dict[str, str]


async def _posted(request: Request) -> Posted | Response:
    """The post, or the page that says why it is refused (another site, not signed in)."""
    if not same_origin(request):
        return await refused(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    return Posted(fan_id, platform_of(request), await read_form(request))


def _in_words(request: Request, error: DomainError) -> tuple[int, str]:
    """A refused post's status and what the page says (NotFound is the 404 page)."""
    if isinstance(error, NotFound):
        raise error
    with i18n.speaking(speaker_of(request)):
        return status_for(error), problem_words(error)


@router.get("/ideas/{idea_id}")
@friendly
async def idea_page(idea_id: str, request: Request) -> Response:
    return await _idea(request, idea_id)


async def _idea(
    request: Request, idea_id: str, status: int = 200, problem: str | None = None
) -> Response:
    platform = platform_of(request)
    state, fan_id = platform.board.state, fan_id_of(request)
    idea = state.idea(idea_id)
    product = await _product(platform, idea.product_id)
    comments = state.comments_on(idea.id)
    names = await author_names(platform.store, [idea.fan_id, *(c.fan_id for c in comments)])
    return await render(
        request,
        "store/idea.html",
        status,
        product=product,
        card=_card(platform, idea, names, fan_id),
        text=markdown_html(idea.text),
        comments=[
            {"comment": c, "author": names.get(c.fan_id or ""), "html": markdown_html(c.text)}
            for c in comments
        ],
        release=state.releases.get(idea.release_id or ""),
        merged_into=_shown(state.ideas.get(idea.merged_into or "")),
        reported=request.query_params.get("reported") == "1",
        problem=problem,
    )


def _shown(idea: Idea | None) -> Idea | None:
    return idea if idea is not None and not idea.hidden else None


@router.post("/ideas/{idea_id}/vote")
@friendly
async def vote(idea_id: str, request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    board = posted.platform.board
    try:
        if posted.fields.get("vote") == "off":
            await board.unvote(posted.fan_id, idea_id)
        else:
            await board.vote(posted.fan_id, idea_id)
    except DomainError as error:
        return await _idea(request, idea_id, *_in_words(request, error))
    target = safe_next(posted.fields.get("next"), default=f"/ideas/{idea_id}")
    return RedirectResponse(target, status_code=303)


@router.post("/ideas/{idea_id}/comments")
@friendly
async def comment(idea_id: str, request: Request) -> Response:
    return await _say(request, idea_id, "comment")


@router.post("/ideas/{idea_id}/report")
@friendly
async def report(idea_id: str, request: Request) -> Response:
    return await _say(request, idea_id, "report")


async def _say(request: Request, idea_id: str, what: str) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    platform, fields = posted.platform, posted.fields
    try:
        if what == "comment":
            await platform.board.comment(posted.fan_id, idea_id, fields.get("text", ""))
        else:
            subject = fields.get("subject") or idea_id
            if platform.moderation.visible_subject(subject).id != idea_id:
                raise NotFound("comment")  # (only a post of the page it was sent from)
            await platform.moderation.report(posted.fan_id, subject, fields.get("reason", ""))
    except DomainError as error:
        return await _idea(request, idea_id, *_in_words(request, error))
    anchor = "#comments" if what == "comment" else "?reported=1"
    return RedirectResponse(f"/ideas/{idea_id}{anchor}", status_code=303)


@router.get("/releases/{release_id}")
@friendly
async def release_page(release_id: str, request: Request) -> Response:
    platform = platform_of(request)
    state = platform.board.state
    release = state.release(release_id)
    product = await _product(platform, release.product_id)
    ideas = [state.ideas[i] for i in release.idea_ids if i in state.ideas]
    return await render(
        request,
        "store/release.html",
        product=product,
        release=release,
        notes=markdown_html(release.notes),
        ideas=[{"idea": i, "votes": len(state.votes.get(i.id, {}))} for i in ideas if not i.hidden],
    )


@router.get("/polls/{poll_id}")
@friendly
async def poll_page(poll_id: str, request: Request) -> Response:
    return await _poll(request, poll_id)


async def _poll(
    request: Request, poll_id: str, status: int = 200, problem: str | None = None
) -> Response:
    platform = platform_of(request)
    poll = platform.board.state.poll(poll_id)
    product = await _product(platform, poll.product_id)
    results = await platform.board_news.results(poll)
    fan_id = fan_id_of(request)
    answers = platform.board.state.answers.get(poll.id, {})
    return await render(
        request,
        "store/poll.html",
        status,
        product=product,
        poll=poll,
        open=poll.is_open(platform.clock.now()),
        results=results,
        total=sum(t.answers for t in results),
        buyers=sum(t.buyers for t in results),
        mine=answers.get(fan_id) if fan_id else None,
        problem=problem,
    )


@router.post("/polls/{poll_id}/answer")
@friendly
async def answer(poll_id: str, request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    news = posted.platform.board_news
    try:
        await news.answer(posted.fan_id, poll_id, posted.fields.get("option"))
    except DomainError as error:
        return await _poll(request, poll_id, *_in_words(request, error))
    return RedirectResponse(f"/polls/{poll_id}", status_code=303)
