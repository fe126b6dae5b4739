"""A board change applied to memory at once, before its write is awaited, and undone if
the write fails: a request that reads the board while a change is being written sees it
(a second publish of the same idea finds it shipped; a vote during a merge finds the
duplicate merged), and memory never keeps what the store refused."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from soldout.services.board_state import FRESH, BoardState
from soldout.store.rows_board import BoardChange, BoardMark, BoardPut

__all__ = ["Undo", "apply", "revert"]

Undo = list[Callable[[], None]]


def apply(state: BoardState, changes: Sequence[BoardChange]) -> Undo:
    """Apply `changes` to `state` in order; returns how to undo them."""
    undo: Undo = []
    for change in changes:
        if isinstance(change, BoardPut):
            undo.append(_put(state, change))
        elif isinstance(change, BoardMark):
            undo.append(_mark(state, change.subject, change.fan_id))
            state.adopt_mark(change)
        else:
            undo.append(_mark(state, change.subject, change.fan_id))
            state.drop_mark(change.subject, change.fan_id)
    return undo


def revert(undo: Undo) -> None:
    for step in reversed(undo):
        step()


def _put(state: BoardState, change: BoardPut) -> Callable[[], None]:
    before = state.held(change.record)
    state.adopt(change.record)
    if before is None:
        return lambda: state.forget(change.record)
    return lambda: state.adopt(before)


def _mark(state: BoardState, subject: str, fan_id: str) -> Callable[[], None]:
    """How to put back the fan's mark on `subject` as it is now (or its absence)."""
    if subject in state.polls:
        answer = state.answers[subject].get(fan_id)
        if answer is None:
            return lambda: state.drop_mark(subject, fan_id)
        return lambda: state.answers[subject].__setitem__(fan_id, answer)
    at = state.votes[subject].get(fan_id)
    if at is None:
        return lambda: state.drop_mark(subject, fan_id)
    value = FRESH if (subject, fan_id) in state.fresh else ""
    return lambda: state.adopt_mark(BoardMark(subject, fan_id, value, at))
