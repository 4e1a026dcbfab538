"""Shape checks report every bad field of a request, the first one leading the message,
with the number of violations bounded (they travel in a trailer)."""

from __future__ import annotations

import datetime as dt

import pytest

from claims.v1 import claims_pb2 as pb
from gateway import validate as V
from gateway.errors import VIOLATIONS_MAX, InvalidArgument


def _line(sn: int, **kw: object) -> pb.FeeLine:
    fields: dict[str, object] = dict(feedetl_sn=sn, item_code="D0001", unit_price_fen=100,
                                     quantity=1, amount_fen=100)
    fields.update(kw)
    return pb.FeeLine(**fields)  # type: ignore[arg-type]


def _claim(lines: list[pb.FeeLine], **kw: object) -> pb.SettleRequest:
    fields: dict[str, object] = dict(
        request_id="R1", institution_code="P31010001", psn_no="31010000000000",
        setting=pb.PHARMACY, card_no="K310100000000",
        service_date=dt.date.today().isoformat(), lines=lines)
    fields.update(kw)
    return pb.SettleRequest(**fields)  # type: ignore[arg-type]


def test_a_good_claim_passes() -> None:
    day, days = V.check_settle(_claim([_line(1), _line(2)]), quote=False)
    assert days == [day, day]


def test_every_bad_field_in_request_order() -> None:
    req = _claim([_line(1), _line(2, quantity=0, amount_fen=0), _line(2)],
                 psn_no="", service_date="2026-13-01")
    with pytest.raises(InvalidArgument) as e:
        V.check_settle(req, quote=False)
    assert e.value.violations == [
        ("psn_no", "required"),
        ("service_date", "not a valid date: '2026-13-01'"),
        ("lines[1].quantity", "must be >= 1"),
        ("lines[2].feedetl_sn", "duplicate line number 2"),
    ]
    assert e.value.message == "psn_no: required (and 3 more field(s))"
    assert e.value.field == "psn_no"


def test_one_bad_field_keeps_the_plain_message() -> None:
    with pytest.raises(InvalidArgument) as e:
        V.check_settle(_claim([_line(1), _line(2), _line(3), _line(4, quantity=0,
                                                                  amount_fen=0)]), quote=False)
    assert e.value.message == "lines[3].quantity: must be >= 1"
    assert e.value.violations == [("lines[3].quantity", "must be >= 1")]


def test_violations_are_bounded() -> None:
    lines = [_line(i + 1, quantity=0, amount_fen=0) for i in range(200)]
    with pytest.raises(InvalidArgument) as e:
        V.check_settle(_claim(lines), quote=False)
    assert len(e.value.violations) == VIOLATIONS_MAX
    assert e.value.message == "lines[0].quantity: must be >= 1 (and 199 more field(s))"
    assert e.value.violations[0] == ("lines[0].quantity", "must be >= 1")


def test_a_value_remembered_valid_for_one_field_is_checked_again_for_another() -> None:
    V.check_code("D 1", "diagnosis_code", 32)  # printable ASCII: a valid diagnosis code
    V.check_code("D 1", "diagnosis_code", 32)  # now remembered
    with pytest.raises(InvalidArgument, match=r"lines\[0\]\.item_code"):
        V.check_code("D 1", "lines[0].item_code", 64)  # not a code (no spaces)
