"""Policy compiler: the reference policy compiles; bad policies are refused naming file and key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from rules_compiled import REFERENCE_POLICY_PATH
from rules_compiled import model as m
from rules_compiled.catalogue import DEMO_CATALOGUE
from rules_compiled.cli import policy_main
from rules_compiled.engine import Engine
from rules_compiled.policy import CompiledPolicy, PolicyError, compile_policy

REF = REFERENCE_POLICY_PATH.read_text(encoding="utf-8")


def _bad(old: str, new: str) -> str:
    assert old in REF, old
    return REF.replace(old, new, 1)


BAD = [
    (  # unordered bands
        _bad(
            "{ from_fen = 1_000_000, to_fen = 5_000_000, ratio_bp = 6500 }",
            "{ from_fen = 900_000, to_fen = 5_000_000, ratio_bp = 6500 }",
        ),
        "reference.toml: res.inpatient.bands[1]: bands overlap or are unordered",
    ),
    (
        _bad("ratio_bp = 8500\nfund_cap_fen", "ratio_bp = 10500\nfund_cap_fen"),
        "reference.toml: emp.inpatient.ratio_bp: ratio 10500 is over 10000",
    ),
    (
        _bad("ratio_bp = [9000, 8500, 8000]", "ratio_bp = [9000, -1, 8000]"),
        "reference.toml: emp.outpatient.when[2].ratio_bp[1]: -1 is negative",
    ),
    (
        _bad(
            "[emp.major_outpatient]", '[emp.dental]\npayment = "personal"\n[emp.major_outpatient]'
        ),
        "reference.toml: emp.dental: unknown setting",
    ),
    (_bad('version = "reference-2024.1"', ""), "reference.toml: version: missing key"),
    (
        _bad(
            '[emp.pharmacy]                       # 定点零售药店\npayment = "personal"\n',
            "[emp.pharmacy]\n",
        ),
        "reference.toml: emp.pharmacy.payment: missing key",
    ),
    (  # gap: A2 no longer covers 1960
        _bad(
            "birth_from = 1956-01-01, birth_to = 1965-12-31, work_start_to = 2000-12-31"
            " }]\n[emp.cohorts.A3]",
            "birth_from = 1956-01-01, birth_to = 1959-12-31, work_start_to = 2000-12-31"
            " }]\n[emp.cohorts.A3]",
        ),
        "reference.toml: emp.cohorts: no cohort of ACTIVE matches birth 1960-01-01",
    ),
    (  # overlap: A3 also claims 1965
        _bad(
            "birth_from = 1966-01-01, work_start_to = 2000-12-31",
            "birth_from = 1965-06-01, work_start_to = 2000-12-31",
        ),
        "reference.toml: emp.cohorts: cohorts are ambiguous: A2 and A3 all match",
    ),
    (
        _bad(
            "when = [{ retire_to = 2000-12-31 }]",
            "when = [{ retire_from = 2001-01-01, retire_to = 2000-12-31 }]",
        ),
        "reference.toml: emp.cohorts.R0: cohort matches nobody",
    ),
    (
        _bad("reversal_window_days = 90", ""),
        "reference.toml: ledger.reversal_window_days: missing key",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_policy_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as e:
        compile_policy(text, "/some/dir/reference.toml")
    assert str(e.value).startswith(message), str(e.value)


def test_reference_numbers(policy: CompiledPolicy) -> None:
    assert policy.version == "reference-2024.1"
    assert policy.source_text == REF
    assert (policy.reversal_window_days, policy.readmission_window_days,
            policy.settlements_per_day_max) == (90, 15, 3)
    emp = policy.groups[m.Scheme.EMP]
    inp_r1 = policy.rules[(m.Scheme.EMP, m.Setting.INPATIENT, emp.index("R1"), 3)]
    assert (inp_r1.deductible_fen, inp_r1.bands[0].ratio_bp, inp_r1.fund_cap_fen) == (
        120_000,
        9200,
        7_000_000,
    )
    out_r2 = policy.rules[(m.Scheme.EMP, m.Setting.OUTPATIENT, emp.index("R2"), 2)]
    assert (out_r2.self_pay_band_fen, out_r2.bands[0].ratio_bp) == (70_000, 6500)


def test_engine_lookups(policy: CompiledPolicy) -> None:
    e = Engine(policy, DEMO_CATALOGUE)
    d = m.day_number
    assert e.version == policy.version
    assert e.items[e.item_index["D-MET"]].code == "D-MET"
    assert (
        e.cohort_name(1, 2, d(dt.date(1950, 3, 1)), d(dt.date(1970, 1, 1)), d(dt.date(2005, 1, 1)))
        == "R1"
    )
    assert e.cohort_name(1, 1, d(dt.date(1960, 1, 1)), d(dt.date(1980, 1, 1)), -1) == "A2"
    assert e.cohort_name(1, 1, d(dt.date(1960, 1, 1)), d(dt.date(2003, 1, 1)), -1) == "A4"
    assert e.cohort_name(2, 3, 0, -1, -1) == ""
    assert e.diagnosis_flags("A00.1") == m.DiagnosisFlag.FULL_COVERAGE
    assert e.diagnosis_flags("x70") == m.DiagnosisFlag.EXCLUDED_CAUSE
    assert e.diagnosis_flags("Z51.1") == m.DiagnosisFlag.MAJOR_OUTPATIENT
    assert e.diagnosis_flags("I21") == 0
    assert e.disease_id("E11.900") == e.disease_id("E11") >= 0
    assert e.disease_id("K35") == -1
    assert e.warm() == {"claims": 8, "errors": 0}
    row = [0] * m.CI_N
    row[m.CI_SCHEME], row[m.CI_PERSON_TYPE], row[m.CI_BIRTH_DAY] = 1, 1, d(dt.date(1960, 1, 1))
    row[m.CI_WORK_START_DAY], row[m.CI_RETIRE_DAY] = d(dt.date(1980, 1, 1)), -1
    row[m.CI_DEDUCTIBLE_PAID], row[m.CI_POOLED_PAID], row[m.CI_OUTPATIENT_BAND_USED] = (
        50_000,
        100,
        1,
    )
    row[m.CI_ASSISTANCE], row[m.CI_ASSISTANCE_PAID] = 1, 10
    rem = e.remaining(row)
    assert rem["deductible_remaining_fen"] == 100_000
    assert rem["pooled_cap_remaining_fen"] == 6_999_900
    assert rem["outpatient_band_remaining_fen"] == 149_999
    assert rem["assistance_cap_remaining_fen"] == 999_990


def test_cli_check_and_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_main(["check", str(REFERENCE_POLICY_PATH)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD[0][0], encoding="utf-8")
    assert policy_main(["check", str(bad)]) == 1
    assert "bad.toml: res.inpatient.bands[1]" in capsys.readouterr().err
    example = REFERENCE_POLICY_PATH.parent.parent / "examples" / "worked_example.json"
    assert json.loads(example.read_text(encoding="utf-8"))["setting"] == "INPATIENT"
    assert policy_main(["explain", "--claim", str(example)]) == 0
    text = capsys.readouterr().out
    assert "deductible 1,200.00 per year" in text
    assert "prior-years pays 1,550.00" in text
    assert "kernel agrees with the reference: yes" in text
