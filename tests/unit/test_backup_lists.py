"""A drawn launch's backup lists count who still waits without walking the list: the count
decides whether a returned unit is shown to fans as left (`LaunchBook.open_units`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from soldout.domain.draw import Entry, draw
from soldout.engine.backups import BackupLists
from tests.unit.test_draw import ENTRIES, SEED, UNITS

FANS = sorted({e.fan_id for e in ENTRIES} | {"fan_elsewhere"})


@given(st.lists(st.sampled_from(FANS)), st.lists(st.sampled_from(FANS)))
def test_the_count_waiting_is_the_backups_not_served(
    served_at_start: list[str], served_later: list[str]
) -> None:
    result = draw(SEED, ENTRIES, UNITS)
    lists = BackupLists()
    launch = lists.start("lch_1", result, served_at_start)
    for fan_id in served_later:
        lists.serve("lch_1", fan_id)
    lists.pass_over("fan_b3")  # an erased account
    for sku, drawn in result.skus.items():
        waiting: list[Entry] = list(lists.waiting("lch_1", sku))
        assert launch.waiting_count(sku) == len(waiting)
        served = {*served_at_start, *served_later, "fan_b3"}
        assert waiting == [e for e in drawn.backups if e.fan_id not in served]
    assert launch.waiting_count("not drawn") == 0
