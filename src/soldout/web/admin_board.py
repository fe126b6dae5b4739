"""The maker's pages of a product's ideas board: the ideas and their statuses, reports to
deal with, releases, polls and the top contributors; and one idea's page to answer, move,
merge, hide or bar its author. Every change is audited, as over the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.board_views import author_names
from soldout.api.deps import platform_of
from soldout.domain.errors import DomainError, InvalidInput
from soldout.services import Platform
from soldout.services.board_state import IdeaQuery
from soldout.web.admin_forms import Form, read_form, signed_in
from soldout.web.admin_render import guarded, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/products/{product_id}/board")
async def board_page(request: Request, product_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return render(request, "admin/board.html", await _board(request, product_id, None))

    return await guarded(request, handle)


async def _board(request: Request, product_id: str, error: DomainError | None) -> dict[str, Any]:
    platform = platform_of(request)
    product = await platform.catalog.product(product_id)
    state, now = platform.board.state, platform.clock.now()
    sort = request.query_params.get("sort", "top")
    total, ideas = state.list_ideas(
        product_id,
        IdeaQuery(sort if sort in ("hot", "top", "new") else "top", limit=100),
        now,
        maker=True,
    )
    top = platform.board_news.contributors(product_id, 10)
    names = await author_names(platform.store, [*(i.fan_id for i in ideas), *(f for f, _ in top)])
    polls = state.polls_of(product_id, maker=True)
    return {
        "product": product,
        "ideas": [
            {"idea": i, "votes": len(state.votes.get(i.id, {})), "author": names[i.fan_id]}
            for i in ideas
        ],
        "total": total,
        "sort": sort,
        "shippable": [i for i in ideas if i.status.value not in ("shipped", "merged", "declined")],
        "reports": [
            {"report": r, "subject": _subject(platform, r.subject_id)}
            for r in state.open_reports(product_id)
        ],
        "releases": state.releases_of(product_id),
        "polls": [{"poll": p, "results": await platform.board_news.results(p)} for p in polls],
        "top": [{"fan_id": f, "name": names[f], "points": p} for f, p in top],
        "launches": [
            b.launch
            for b in platform.engine.books()
            if b.launch.product_id == product_id and b.launch.rehearsal is None
        ],
        "error": error,
        "now": now,
    }


def _subject(platform: Platform, subject_id: str) -> dict[str, str]:
    """A reported post as the maker sees it: its text and the idea it belongs to."""
    state = platform.board.state
    if subject_id in state.comments:
        comment = state.comments[subject_id]
        return {"idea_id": comment.idea_id, "text": comment.text, "kind": "comment"}
    idea = state.idea(subject_id, maker=True)
    return {"idea_id": idea.id, "text": idea.title, "kind": "idea"}


@router.post("/products/{product_id}/board/{action}")
async def board_action(request: Request, product_id: str, action: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        try:
            done = await _act_on_board(platform, product_id, action, form)
        except DomainError as exc:
            context = await _board(request, product_id, exc)
            return render(request, "admin/board.html", context, status=400)
        return redirect(f"/admin/products/{product_id}/board", done=done)

    return await guarded(request, handle)


async def _act_on_board(platform: Platform, product_id: str, action: str, form: Form) -> str:
    news = platform.board_news
    if action == "release":
        ideas = form.fields.get("ideas", [])
        release, told = await news.publish(product_id, form.get("title"), form.get("notes"), ideas)
        detail = {"title": release.title, "ideas": list(release.idea_ids), "told": told}
        await platform.audit(form.actor, "release.publish", release.id, detail)
        return "release"
    if action == "poll":
        product = await platform.catalog.product(product_id)
        options = [_option(line) for line in form.get("options").splitlines() if line.strip()]
        poll = await news.ask(
            product, form.get("question"), options, form.moment("closes_at", "Closes")
        )
        await platform.audit(form.actor, "poll.create", poll.id, {"question": poll.question})
        return "poll"
    if action == "reward":
        top = form.integer("top", "Top contributors", default=10)
        made, stopped = await news.reward(product_id, form.get("launch_id"), top)
        fans = [r.fan_id for r in made]
        detail = {"launch_id": form.get("launch_id"), "fans": fans, "stopped": stopped}
        await platform.audit(form.actor, "contributors.codes", product_id, detail)
        return "rewarded" if stopped is None else "rewarded_some"
    if action in ("close_poll", "open_poll"):
        poll_id = form.get("poll_id")
        platform.board.state.poll(poll_id, maker=True)
        await news.close(poll_id, closed=action == "close_poll")
        await platform.audit(form.actor, "poll.change", poll_id, {"closed": action == "close_poll"})
        return "poll_changed"
    if action == "dismiss":
        report = await platform.moderation.dismiss(form.get("report_id"))
        await platform.audit(
            form.actor, "report.dismiss", report.id, {"subject_id": report.subject_id}
        )
        return "dismissed"
    raise InvalidInput(f"no such action: {action}", field="action")


def _option(line: str) -> dict[str, str | None]:
    """`Black | M1-BLK` (a label, and the SKU it stands for) or a label alone."""
    label, _, sku = line.partition("|")
    return {"label": label.strip(), "sku": sku.strip() or None}


@router.get("/ideas/{idea_id}")
async def idea_page(request: Request, idea_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return render(request, "admin/idea.html", await _idea(request, idea_id, None))

    return await guarded(request, handle)


async def _idea(request: Request, idea_id: str, error: DomainError | None) -> dict[str, Any]:
    platform = platform_of(request)
    state = platform.board.state
    idea = state.idea(idea_id, maker=True)
    comments = state.comments_on(idea_id, maker=True)
    names = await author_names(platform.store, [idea.fan_id, *(c.fan_id for c in comments)])
    others = [
        i
        for i in state.ideas.values()
        if i.product_id == idea.product_id and i.id != idea.id and i.status.value != "merged"
    ]
    return {
        "idea": idea,
        "votes": len(state.votes.get(idea.id, {})),
        "author": names[idea.fan_id],
        "barred": state.barred(idea.fan_id),
        "comments": [{"comment": c, "author": names.get(c.fan_id or "", "")} for c in comments],
        "others": others,
        "error": error,
    }


@router.post("/ideas/{idea_id}/{action}")
async def idea_action(request: Request, idea_id: str, action: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        try:
            done = await _act_on_idea(platform, idea_id, action, form)
        except DomainError as exc:
            return render(
                request, "admin/idea.html", await _idea(request, idea_id, exc), status=400
            )
        return redirect(f"/admin/ideas/{idea_id}", done=done)

    return await guarded(request, handle)


async def _act_on_idea(platform: Platform, idea_id: str, action: str, form: Form) -> str:
    board = platform.board
    idea = board.state.idea(idea_id, maker=True)
    if action == "move":
        await board.move(idea_id, form.get("status"), form.get("reason"))
        await platform.audit(form.actor, "idea.move", idea_id, {"status": form.get("status")})
    elif action == "answer":
        made = await board.comment(None, idea_id, form.get("text"))
        await platform.audit(form.actor, "idea.answer", idea_id, {"comment_id": made.id})
    elif action == "merge":
        await board.merge(idea_id, form.get("into"))
        await platform.audit(form.actor, "idea.merge", idea_id, {"into": form.get("into")})
    elif action in ("hide", "show", "hide_comment", "show_comment"):
        subject = form.get("comment_id") if action.endswith("comment") else idea_id
        hidden = action.startswith("hide")
        await platform.moderation.hide(subject, hidden)
        await platform.audit(form.actor, "post.hide" if hidden else "post.show", subject)
    elif action in ("useful", "not_useful"):
        comment_id = form.get("comment_id")
        await board.mark_useful(comment_id, action == "useful")
        await platform.audit(
            form.actor, "comment.useful", comment_id, {"useful": action == "useful"}
        )
    elif action in ("bar", "unbar", "bar_commenter"):
        fan_id = idea.fan_id
        if action == "bar_commenter":
            fan_id = board.state.comment(form.get("comment_id")).fan_id or ""
        bar = await platform.moderation.bar(fan_id, action != "unbar", form.get("reason"))
        verb = "unbar" if action == "unbar" else "bar"
        await platform.audit(form.actor, f"fan.{verb}", fan_id, {"reason": bar.reason})
    else:
        raise InvalidInput(f"no such action: {action}", field="action")
    return "board"
