"""Shape checks of requests (docs/benefit-rules.md §3.1), before anything is read.

Every failure raises :class:`InvalidArgument` whose message starts with the
path of the offending field (``lines[3].quantity``), so a vendor's developer
can find it without reading our code.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from claims.v1 import claims_pb2 as pb
from gateway.errors import VIOLATIONS_MAX, InvalidArgument
from rules_compiled import limits as F

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    """Explicit bounds on every input (TIGER_STYLE: every loop and queue is bounded).
    Field lengths and character sets come from ``rules_compiled/limits.py``, which the
    CSV loader and the policy file use too."""

    request_id_len_max: int = F.REQUEST_ID.len_max
    code_len_max: int = F.PSN_NO.len_max  # psn_no, institution, card, practitioner, episode
    item_code_len_max: int = F.ITEM_CODE.len_max
    text_len_max: int = F.PRESCRIPTION_NO.len_max  # prescription, operator, terminal
    lines_per_claim_max: int = 1000
    unit_price_fen_max: int = 100_000_000  # 1,000,000.00 yuan per unit
    quantity_max: int = 100_000
    amount_fen_max: int = 1_000_000_000  # 10,000,000.00 yuan per line
    days_supply_max: int = F.DAYS_SUPPLY_MAX
    date_min: dt.date = F.DATE_MIN
    future_days_max: int = F.FUTURE_DAYS_MAX  # clock skew allowed for a service date


LIMITS = Limits()


_CST_OFFSET_S = 8 * 3600
_EPOCH = dt.date(1970, 1, 1)
_today: tuple[int, dt.date] = (-1, _EPOCH)  # (day number, date) last computed


def today() -> dt.date:
    """Today in China Standard Time, the calendar the platform runs on (no daylight
    saving: the day changes every 86,400 s, at 16:00 UTC)."""
    global _today
    n = int((time.time() + _CST_OFFSET_S) // 86_400)
    if n != _today[0]:
        _today = (n, _EPOCH + dt.timedelta(days=n))
    return _today[1]


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Valid dates recur on every request (today's, above all): once found valid, a date
# string is remembered for the rest of the day (the range it is checked against moves
# with today), up to a bound, and only with the default limits.
_VALID_DATES_MAX = 4_096
_valid_dates: dict[str, dt.date] = {}
_valid_dates_day = _EPOCH


def parse_date(value: str, field: str, *, limits: Limits = LIMITS) -> dt.date:
    global _valid_dates, _valid_dates_day
    now = today()
    if _valid_dates_day != now:
        _valid_dates, _valid_dates_day = {}, now
    known = _valid_dates.get(value)
    if known is not None and limits is LIMITS:
        return known
    if len(value) != 10 or not _DATE.fullmatch(value):  # fromisoformat also takes 2026-W01-1
        raise InvalidArgument(field, "expected a date YYYY-MM-DD")
    try:
        d = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(field, f"not a valid date: {value!r}") from None
    if d < limits.date_min or d > now + dt.timedelta(days=limits.future_days_max):
        raise InvalidArgument(field, f"date out of range: {value}")
    if limits is LIMITS and len(_valid_dates) < _VALID_DATES_MAX:
        _valid_dates[value] = d
    return d


# Values of these fields recur from request to request (an institution's own codes, its
# catalogue's item codes): once found valid, a value is remembered, up to a bound.
# Free text (operator and terminal ids) is not remembered: a client could fill the memo.
_RECURRING = frozenset({"institution_code", "item_code", "practitioner_code", "diagnosis_code"})
assert _RECURRING <= F.WIRE_FIELDS.keys()  # held to their definition, whatever max_len says
_VALID_SEEN_MAX = 100_000
_valid_seen: set[tuple[str, str]] = set()


def code_problem(value: str, leaf: str, max_len: int, *, required: bool = True) -> str | None:
    """Why ``value`` is not valid for a text field named ``leaf``, or None. A field
    defined in ``rules_compiled/limits.py`` is held to that definition; any other to
    printable ASCII of at most ``max_len`` characters."""
    if not value:
        return "required" if required else None
    if (leaf, value) in _valid_seen:
        return None
    spec = F.WIRE_FIELDS.get(leaf)
    if spec is not None:
        problem = spec.problem(value)
    elif len(value) > max_len:
        problem = f"longer than {max_len} characters"
    elif not value.isascii() or not value.isprintable() or value.strip() != value:
        problem = "must be printable ASCII without surrounding spaces"
    else:
        problem = None
    if problem is None and leaf in _RECURRING and len(_valid_seen) < _VALID_SEEN_MAX:
        _valid_seen.add((leaf, value))
    return problem


def check_code(value: str, field: str, max_len: int, *, required: bool = True) -> None:
    """A text field, by the last part of its path (``lines[3].item_code`` -> ``item_code``),
    as :func:`code_problem` says."""
    problem = code_problem(value, field.rsplit(".", 1)[-1], max_len, required=required)
    if problem is not None:
        raise InvalidArgument(field, problem)


def check_enum(value: int, enum_type: type, field: str, *, allow_zero: bool = False) -> None:
    names = enum_type.DESCRIPTOR.values_by_number  # type: ignore[attr-defined]
    if value not in names or (value == 0 and not allow_zero):
        raise InvalidArgument(field, f"unknown or unspecified value {value}")


class Violations:
    """Every bad field of one request, raised together as one INVALID_ARGUMENT.

    ``check(fn, ...)`` runs one field's check and records its failure instead of
    stopping; :meth:`done` raises them all (the first leads the message).
    """

    __slots__ = ("found", "total")

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []  # the first VIOLATIONS_MAX
        self.total = 0

    def add(self, field: str, problem: str) -> None:
        self.total += 1
        if len(self.found) < VIOLATIONS_MAX:
            self.found.append((field, problem))

    def check(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return fn(*args, **kwargs)
        except InvalidArgument as e:
            for field, problem in e.violations:
                self.add(field, problem)
            return None

    def text(self, value: str, field: str, max_len: int, *, required: bool = True) -> None:
        """A top-level text field (its path is its name), as :func:`code_problem` says."""
        if problem := code_problem(value, field, max_len, required=required):
            self.add(field, problem)

    def done(self) -> None:
        if self.found:
            raise InvalidArgument.of(self.found, self.total)


def check_lines(
    lines: Iterable[pb.FeeLine], service_date: dt.date, field: str = "lines",
    *, limits: Limits = LIMITS, max_lines: int | None = None,
    violations: Violations | None = None,
) -> list[dt.date]:
    """Checks fee lines; returns each line's date (the claim's date when empty).

    Every bad field of every line is reported (into ``violations`` when given,
    else raised at the end).
    """
    seq = list(lines)
    cap = limits.lines_per_claim_max if max_lines is None else max_lines
    if len(seq) > cap:
        raise InvalidArgument(field, f"more than {cap} lines")
    v = Violations() if violations is None else violations
    bad = v.add
    seen: set[int] = set()
    days: list[dt.date] = []
    date_cache: dict[str, dt.date] = {}
    for i, ln in enumerate(seq):
        # Field paths (``lines[3].quantity``) are only built for a problem found.
        sn = ln.feedetl_sn
        if sn <= 0:
            bad(f"{field}[{i}].feedetl_sn", "must be >= 1")
        elif sn in seen:
            bad(f"{field}[{i}].feedetl_sn", f"duplicate line number {sn}")
        seen.add(sn)
        if problem := code_problem(ln.item_code, "item_code", limits.item_code_len_max):
            bad(f"{field}[{i}].item_code", problem)
        price, qty, amount = ln.unit_price_fen, ln.quantity, ln.amount_fen
        amounts_ok = True
        if price < 0 or price > limits.unit_price_fen_max:
            bad(f"{field}[{i}].unit_price_fen", "out of range")
            amounts_ok = False
        if qty <= 0:
            bad(f"{field}[{i}].quantity", "must be >= 1")
            amounts_ok = False
        elif qty > limits.quantity_max:
            bad(f"{field}[{i}].quantity", f"more than {limits.quantity_max}")
            amounts_ok = False
        if amount < 0 or amount > limits.amount_fen_max:
            bad(f"{field}[{i}].amount_fen", "out of range")
        elif amounts_ok and amount != price * qty:
            bad(
                f"{field}[{i}].amount_fen",
                f"{amount} is not unit_price_fen x quantity ({price} x {qty})",
            )
        if ln.days_supply < 0 or ln.days_supply > limits.days_supply_max:
            bad(f"{field}[{i}].days_supply", "out of range")
        if problem := code_problem(ln.prescription_no, "prescription_no", limits.text_len_max,
                                   required=False):
            bad(f"{field}[{i}].prescription_no", problem)
        if problem := code_problem(ln.practitioner_code, "practitioner_code",
                                   limits.code_len_max, required=False):
            bad(f"{field}[{i}].practitioner_code", problem)
        if ln.service_date:
            d = date_cache.get(ln.service_date)
            if d is None:
                d = v.check(parse_date, ln.service_date, f"{field}[{i}].service_date",
                            limits=limits)
                if d is not None:
                    date_cache[ln.service_date] = d
            if d is None:
                d = service_date
            elif d > service_date:
                bad(f"{field}[{i}].service_date", "after the claim's service date")
            days.append(d)
        else:
            days.append(service_date)
    if violations is None:
        v.done()
    return days


def check_settle(req: pb.SettleRequest, *, quote: bool, limits: Limits = LIMITS) -> tuple[
    dt.date, list[dt.date]
]:
    """Checks a SettleRequest; returns the service date and each line's date."""
    v = Violations()
    v.text(req.request_id, "request_id", limits.request_id_len_max, required=not quote)
    v.text(req.institution_code, "institution_code", limits.code_len_max)
    v.text(req.psn_no, "psn_no", limits.code_len_max)
    v.check(check_enum, req.setting, pb.Setting, "setting")
    v.text(req.card_no, "card_no", limits.code_len_max)
    service_date = v.check(parse_date, req.service_date, "service_date", limits=limits)
    v.text(req.diagnosis_code, "diagnosis_code", limits.text_len_max, required=False)
    v.check(check_enum, req.referral, pb.Referral, "referral", allow_zero=True)
    v.text(req.episode_id, "episode_id", limits.code_len_max, required=False)
    v.text(req.operator_id, "operator_id", limits.text_len_max, required=False)
    v.text(req.terminal_id, "terminal_id", limits.text_len_max, required=False)
    days: list[dt.date] = []
    if req.setting == pb.INPATIENT and req.episode_id:
        if len(req.lines):
            v.add("lines", "an episode's lines come from UploadFeeDetails")
    elif not len(req.lines):
        v.add("lines", "at least one line is required")
    else:
        days = check_lines(req.lines, service_date or today(), limits=limits, violations=v)
    v.done()
    assert service_date is not None
    return service_date, days


def check_eligibility(req: pb.EligibilityRequest, *, limits: Limits = LIMITS) -> dt.date:
    v = Violations()
    v.text(req.institution_code, "institution_code", limits.code_len_max)
    v.text(req.psn_no, "psn_no", limits.code_len_max)
    v.text(req.card_no, "card_no", limits.code_len_max, required=False)
    v.check(check_enum, req.setting, pb.Setting, "setting", allow_zero=True)
    day = today()
    if req.service_date:
        day = v.check(parse_date, req.service_date, "service_date", limits=limits) or day
    v.done()
    return day


def _check_mutation_ids(req: object, limits: Limits, into: Violations | None = None) -> None:
    v = Violations() if into is None else into
    for name, max_len in (("request_id", limits.request_id_len_max),
                          ("institution_code", limits.code_len_max),
                          ("psn_no", limits.code_len_max)):
        v.check(check_code, getattr(req, name), name, max_len)
    for name in ("operator_id", "terminal_id"):
        if hasattr(req, name):
            v.check(check_code, getattr(req, name), name, limits.text_len_max, required=False)
    if into is None:
        v.done()


def check_reverse(req: pb.ReverseRequest, *, limits: Limits = LIMITS) -> None:
    v = Violations()
    _check_mutation_ids(req, limits, v)
    v.check(check_code, req.settlement_id, "settlement_id", limits.request_id_len_max)
    v.done()


def check_cancel(req: pb.CancelRequest, *, limits: Limits = LIMITS) -> None:
    v = Violations()
    _check_mutation_ids(req, limits, v)
    v.check(check_code, req.original_request_id, "original_request_id",
            limits.request_id_len_max)
    if req.original_request_id == req.request_id:
        v.add("original_request_id", "must differ from request_id")
    v.done()


def check_admit(req: pb.AdmitRequest, *, limits: Limits = LIMITS) -> dt.date:
    v = Violations()
    _check_mutation_ids(req, limits, v)
    v.check(check_code, req.card_no, "card_no", limits.code_len_max)
    v.check(check_code, req.diagnosis_code, "diagnosis_code", limits.text_len_max)
    v.check(check_enum, req.referral, pb.Referral, "referral", allow_zero=True)
    admission = v.check(parse_date, req.admission_date, "admission_date", limits=limits)
    v.done()
    assert admission is not None
    return admission


def check_discharge(
    req: pb.DischargeRequest, *, limits: Limits = LIMITS
) -> tuple[dt.date, dt.date | None]:
    _check_mutation_ids(req, limits)
    check_code(req.episode_id, "episode_id", limits.code_len_max)
    check_code(req.diagnosis_code, "diagnosis_code", limits.text_len_max, required=False)
    discharge = parse_date(req.discharge_date, "discharge_date", limits=limits)
    order = None
    if req.discharge_order_date:
        order = parse_date(req.discharge_order_date, "discharge_order_date", limits=limits)
        if order > discharge:
            raise InvalidArgument("discharge_order_date", "after the discharge date")
    return discharge, order


def check_chunk(
    req: pb.FeeDetailChunk, *, limits: Limits = LIMITS, lines_per_chunk_max: int = 1000
) -> None:
    v = Violations()
    _check_mutation_ids(req, limits, v)
    v.check(check_code, req.episode_id, "episode_id", limits.code_len_max)
    if not len(req.lines):
        v.add("lines", "at least one line is required")
    else:
        # A line's own date is checked against the discharge at settlement; here it must be
        # a date.
        check_lines(req.lines, today() + dt.timedelta(days=limits.future_days_max),
                    limits=limits, max_lines=lines_per_chunk_max, violations=v)
    v.done()


def check_get(req: pb.GetSettlementRequest, *, limits: Limits = LIMITS) -> None:
    check_code(req.institution_code, "institution_code", limits.code_len_max)
    if req.settlement_id:
        check_code(req.settlement_id, "settlement_id", limits.request_id_len_max)
        return
    if not req.request_id:
        raise InvalidArgument("settlement_id", "required (or psn_no and request_id)")
    check_code(req.psn_no, "psn_no", limits.code_len_max)
    check_code(req.request_id, "request_id", limits.request_id_len_max)


RECONCILE_DAYS_MAX = 92


def check_range(institution_code: str, from_date: str, to_date: str,
                *, limits: Limits = LIMITS) -> tuple[dt.date, dt.date]:
    check_code(institution_code, "institution_code", limits.code_len_max)
    start = parse_date(from_date, "from_date", limits=limits)
    end = parse_date(to_date, "to_date", limits=limits)
    if end < start:
        raise InvalidArgument("to_date", "before from_date")
    if (end - start).days + 1 > RECONCILE_DAYS_MAX:
        raise InvalidArgument("to_date", f"a range covers at most {RECONCILE_DAYS_MAX} days")
    return start, end


TOTAL_FEN_MAX = 1 << 62  # declared totals: far beyond any institution, and the difference fits


def check_declared_totals(declared: pb.ReconcileTotals) -> None:
    v = Violations()
    for f in pb.ReconcileTotals.DESCRIPTOR.fields:
        value = getattr(declared, f.name)
        if not 0 <= value <= TOTAL_FEN_MAX:
            v.add(f"declared.{f.name}", f"out of range: {value}")
    v.done()
