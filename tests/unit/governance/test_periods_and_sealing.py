from __future__ import annotations

from datetime import UTC, datetime

import pytest
from linli_governance.periods import local_year, parse_period
from linli_governance.sealing import GENESIS, canonical_json, ledger_digest, seal

from linli_runtime.errors import InvalidArgument


def test_months_and_quarters_are_china_standard_time() -> None:
    october = parse_period("2026-10")
    assert october.start == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert october.end == datetime(2026, 10, 31, 16, tzinfo=UTC)
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.end, q4.quarterly) == (october.start, datetime(2026, 12, 31, 16, tzinfo=UTC), True)
    assert parse_period("2026-12").end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert local_year(datetime(2026, 12, 31, 17, tzinfo=UTC)) == 2027


@pytest.mark.parametrize("label", ["2026-13", "2026-00", "2026-Q5", "26-10", "2026/10", "", "1999-01"])
def test_bad_period_labels_name_the_field(label: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_period(label)
    assert caught.value.violations[0].field == "period"


def test_seal_changes_with_any_byte_of_the_body_or_the_previous_seal() -> None:
    body = canonical_json({"income_fen": 100, "b": "生建"})
    first = seal(GENESIS, body)
    assert first == seal(GENESIS, canonical_json({"b": "生建", "income_fen": 100}))  # key order does not matter
    assert first != seal(GENESIS, canonical_json({"income_fen": 101, "b": "生建"}))
    assert first != seal("1" * 64, body)


def test_ledger_digest_ignores_order_but_not_amounts() -> None:
    rows = [("a", "cash:operating", "income:parking", 100), ("b", "expense:cleaning", "cash:operating", 40)]
    assert ledger_digest(rows) == ledger_digest(list(reversed(rows)))
    assert ledger_digest(rows) != ledger_digest([rows[0], ("b", "expense:cleaning", "cash:operating", 41)])
