"""Every door takes a field on the same terms: the CSV loader, the gRPC request checks and
the policy file accept exactly the values the one definition (rules_compiled/limits.py)
accepts. A member loaded with an id the wire refuses could never be served."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from claims.v1 import claims_pb2 as pb
from gateway import load_csv, load_members, load_reference, load_state
from gateway.demo_catalogue import demo_catalogue
from gateway.demo_institutions import demo_institutions
from gateway.demo_population import demo_population
from gateway.domain import ChronicRegistration, RemoteRegistration
from gateway.errors import InvalidArgument
from gateway.validate import check_settle, today
from rules_compiled import REFERENCE_POLICY_PATH, limits
from rules_compiled.limits import Charset, TextField
from rules_compiled.policy import PolicyError, compile_policy


def _values(spec: TextField) -> list[str]:
    """Values on both sides of the field's bounds."""
    n = spec.len_max
    # (No list separator "|" ":" ";": inside a list field it separates two values.)
    return ["A" * n, "A" * (n + 1), "7", "A B", "A=B", "A,B", "a.b-c_d", " A", "A ", "Aé",
            "A\x7f", "A\t", "-A"]


# --- the CSV doors: the columns a value is refused in -------------------------------------


def _csv_refuses(write: Callable[[Path], None], validate: Callable[..., object],
                 column: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "file.csv"
        write(path)
        problems = load_csv._Problems(str(path))
        with tempfile.TemporaryFile() as spool:
            validate(path, problems, spool)
        return any(f": {column}: " in message for message in problems.listed)


def _member_door(change: Callable[[str], dict[str, object]], column: str) -> Callable[[str], bool]:
    member = next(iter(demo_population(1)))

    def refuses(value: str) -> bool:
        m = dataclasses.replace(member, **change(value))  # type: ignore[arg-type]
        return _csv_refuses(lambda p: load_members.write_members_csv(p, [m]),
                            load_members._validate_members, column)
    return refuses


def _reference_door(kind: str, change: Callable[[str], dict[str, object]],
                    column: str) -> Callable[[str], bool]:
    def refuses(value: str) -> bool:
        if kind == "institutions":
            inst = dataclasses.replace(demo_institutions()[0], **change(value))  # type: ignore[arg-type]
            return _csv_refuses(
                lambda p: load_reference.write_institutions_csv(p, [inst]),
                lambda p, pr, _s: load_reference._validate_reference(
                    p, load_reference.INSTITUTION_COLUMNS, load_reference._parse_institution,
                    pr, kind),
                column)
        item = dataclasses.replace(demo_catalogue()[0], **change(value))  # type: ignore[arg-type]
        return _csv_refuses(
            lambda p: load_reference.write_catalogue_csv(p, [item]),
            lambda p, pr, _s: load_reference._validate_reference(
                p, load_reference.CATALOGUE_COLUMNS, load_reference._parse_catalogue_item,
                pr, kind),
            column)
    return refuses


def _charge_door(column: str) -> Callable[[str], bool]:
    """The charges file (a settled charge for the duplicate check)."""
    row = {"psn_no": "31010000000000", "institution_code": "P31010001",
           "item_code": "D0001", "service_date": "2026-03-01", "prescription_no": "RX1"}

    def refuses(value: str) -> bool:
        values = {**row, column: value}
        ref = load_state._StateReference(drugs=frozenset(),
                                         institutions=frozenset({values["institution_code"]}))
        return _csv_refuses(
            lambda p: load_state.write_state_csv(p, "charges", [tuple(values.values())]),
            lambda p, pr, s: load_state._validate_state("charges", p, ref, pr, s), column)
    return refuses


_ON = dt.date(2020, 1, 1)


# --- the wire: the field a SettleRequest is refused on ------------------------------------


def _wire_door(field: str) -> Callable[[str], bool]:
    def refuses(value: str) -> bool:
        req = pb.SettleRequest(
            request_id="REQ-1", institution_code="P31010001", psn_no="31010000000000",
            setting=pb.PHARMACY, card_no="K310100000000", service_date=today().isoformat(),
            diagnosis_code="J18.9",
            lines=[pb.FeeLine(feedetl_sn=1, item_code="D0001", unit_price_fen=100, quantity=1,
                              amount_fen=100, prescription_no="RX1")],
        )
        if field.startswith("lines[0]."):
            setattr(req.lines[0], field.split(".")[1], value)
        else:
            setattr(req, field, value)
        try:
            check_settle(req, quote=False)
        except InvalidArgument as e:
            assert e.field == field, (e.field, field)
            return True
        return False
    return refuses


# --- the policy file -----------------------------------------------------------------------

_POLICY_TEXT = REFERENCE_POLICY_PATH.read_text()


def _policy_door(value: str) -> bool:
    text = _POLICY_TEXT.replace('full_coverage = ["A00",',
                                f"full_coverage = [{json.dumps(value)}, \"A00\",", 1)
    assert text != _POLICY_TEXT
    try:
        compile_policy(text, "test.toml")
    except PolicyError as e:
        assert "diagnoses.full_coverage[0]" in str(e), e
        return True
    return False


# Each field, with every door that takes it in.
DOORS: list[tuple[TextField, dict[str, Callable[[str], bool]]]] = [
    (limits.PSN_NO, {
        "members.csv psn_no": _member_door(lambda v: {"psn_no": v}, "psn_no"),
        "charges.csv psn_no": _charge_door("psn_no"),
        "SettleRequest.psn_no": _wire_door("psn_no"),
    }),
    (limits.CARD_NO, {
        "members.csv card_no": _member_door(lambda v: {"card_no": v}, "card_no"),
        "SettleRequest.card_no": _wire_door("card_no"),
    }),
    (limits.INSTITUTION_CODE, {
        "institutions.csv code": _reference_door("institutions", lambda v: {"code": v}, "code"),
        "members.csv remote": _member_door(
            lambda v: {"remote": RemoteRegistration((v,), _ON, _ON)}, "remote"),
        "charges.csv institution_code": _charge_door("institution_code"),
        "SettleRequest.institution_code": _wire_door("institution_code"),
    }),
    (limits.PRACTITIONER_CODE, {
        "institutions.csv suspended_practitioners": _reference_door(
            "institutions", lambda v: {"suspended_practitioners": frozenset({v})},
            "suspended_practitioners"),
        "FeeLine.practitioner_code": _wire_door("lines[0].practitioner_code"),
    }),
    (limits.ITEM_CODE, {
        "catalogue.csv code": _reference_door("catalogue", lambda v: {"code": v}, "code"),
        "charges.csv item_code": _charge_door("item_code"),
        "FeeLine.item_code": _wire_door("lines[0].item_code"),
    }),
    (limits.DIAGNOSIS_CODE, {
        "members.csv chronic": _member_door(
            lambda v: {"chronic": (ChronicRegistration(v, _ON, _ON),)}, "chronic"),
        "catalogue.csv chronic_disease": _reference_door(
            "catalogue", lambda v: {"chronic_disease": v}, "chronic_disease"),
        "SettleRequest.diagnosis_code": _wire_door("diagnosis_code"),
        "policy diagnoses": _policy_door,
    }),
    (limits.PRESCRIPTION_NO, {
        "charges.csv prescription_no": _charge_door("prescription_no"),
        "FeeLine.prescription_no": _wire_door("lines[0].prescription_no"),
    }),
]


@pytest.mark.parametrize(("spec", "doors"), DOORS, ids=[spec.name for spec, _ in DOORS])
def test_every_door_takes_a_field_on_the_same_terms(
    spec: TextField, doors: dict[str, Callable[[str], bool]]
) -> None:
    seen_both = set()
    for value in _values(spec):
        valid = spec.problem(value) is None
        seen_both.add(valid)
        verdicts = {door: not refuses(value) for door, refuses in doors.items()}
        assert verdicts == dict.fromkeys(doors, valid), (spec.name, value)
    assert seen_both == {True, False}  # the values reach both sides of the bounds


def test_a_member_id_the_wire_refuses_cannot_be_loaded() -> None:
    psn_33 = "3" * 33
    assert _member_door(lambda v: {"psn_no": v}, "psn_no")(psn_33)
    assert _wire_door("psn_no")(psn_33)
    assert not _member_door(lambda v: {"psn_no": v}, "psn_no")(psn_33[:32])


def test_card_numbers_are_printable_ascii_at_both_doors() -> None:
    for card in ("K31\x00", "卡号123", " K1"):
        assert _member_door(lambda v: {"card_no": v}, "card_no")(card)
        assert _wire_door("card_no")(card)


def test_code_fields_cannot_hold_the_store_separators() -> None:
    for spec in (limits.PSN_NO, limits.INSTITUTION_CODE, limits.ITEM_CODE,
                 limits.PRACTITIONER_CODE):
        assert spec.charset is Charset.CODE
        for sep in "|:;=,\n ":
            assert spec.problem(f"A{sep}B") is not None
