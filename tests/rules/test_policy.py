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
from rules_compiled.compiled_policy import CompiledPolicy
from rules_compiled.engine import Engine
from rules_compiled.policy import PolicyError, compile_policy

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
    (  # the override cap of a setting with a pooled fund cap is that same cap
        _bad(
            "overrides_count_against_cap = true\n[[emp.inpatient.when]]",
            "overrides_count_against_cap = true\noverride_cap_fen = 100\n[[emp.inpatient.when]]",
        ),
        "reference.toml: emp.inpatient.override_cap_fen: must equal fund_cap_fen",
    ),
    (  # overrides can count only against a pooled cap
        _bad(
            'fund_cap_counter = "outpatient_fund"',
            'fund_cap_counter = "outpatient_fund"\noverrides_count_against_cap = true',
        ),
        "reference.toml: res.outpatient.overrides_count_against_cap: needs a pooled cap",
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
    assert (
        policy.reversal_window_days,
        policy.readmission_window_days,
        policy.settlements_per_day_max,
    ) == (90, 15, 3)
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


def test_explain_names_both_ways_to_explain(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the usage on one line
    # `claimgate policy explain` alone, and its help, name --settlement next to --claim:
    # an operator with a settlement id from a complaint finds the way in.
    with pytest.raises(SystemExit) as stop:
        policy_main(["explain"])
    assert stop.value.code == 2
    assert "one of the arguments --claim --settlement is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        policy_main(["explain", "--help"])
    assert "(--claim CLAIM | --settlement SETTLEMENT_ID)" in capsys.readouterr().out


def test_explain_shows_every_clarified_step(capsys: pytest.CaptureFixture[str]) -> None:
    """`policy explain` shows the steps of DOMAIN.md §10: the referral pay-first per line,
    the override payment (held to the EMP pooled cap) and its co-pay, the account order
    after the band in EMP OUTPATIENT, and lines dated before the benefit start.

    Outpatient example (A2, level 1, out of province 10%, DIBAO, current 120.00, 10.00 of
    the pooled cap left): D-AMOX 100 -> pay-first 10, net 90 from the account; D-IMAT
    (class B 10%: in scope 90) -> pay-first 9, 80% of 81 = 64.80 but only the 10.00 left
    of the cap, co-pay 71; after the band the 30 left pays the pay-first 19, then 11 of the
    co-pay; burden 60 x 70% = 42; the class-C 100 and the pay-first 10 of class B are cash.
    """
    examples = REFERENCE_POLICY_PATH.parent.parent / "examples"
    assert (
        policy_main(["explain", "--claim", str(examples / "outpatient_referral_override.json")])
        == 0
    )
    text = capsys.readouterr().out
    for step in (
        "line 1: referral pay-first 10% of in-scope 100.00 = 10.00",
        "line 2: item override, in scope 90.00, referral pay-first 10% = 9.00; pooled fund 80%"
        " of 81.00 = 64.80; the pooled cap binds: pays the 10.00 left",
        "co-pay 71.00",
        "of in-scope 90.00 (less the referral pay-first); left 0.00",
        "referral pay-first 19.00 after the band: current-year bucket 19.00",
        "override co-pay 71.00 after the band: current-year bucket 11.00, prior-years bucket"
        " 0.00, cash 60.00",
        "medical assistance 70% of in-scope personal burden 60.00",
        "self-pay items 110.00: current-year bucket 0.00, prior-years bucket 0.00, cash 110.00",
        "kernel agrees with the reference: yes",
    ):
        assert step in text, step
    assert policy_main(["explain", "--claim", str(examples / "inpatient_benefit_start.json")]) == 0
    text = capsys.readouterr().out
    assert (
        "line 1 D-AMOX 1,000.00 dated 2024-04-29, before the benefit start 2024-05-01: not"
        " covered, fully self-paid [NOT_YET_COVERED]" in text
    )
    assert "band 0.00–∞ at 85%: 500.00 -> pooled fund (统筹) 425.00" in text
    assert "kernel agrees with the reference: yes" in text


def test_policy_help_lists_publish(capsys: pytest.CaptureFixture[str]) -> None:
    """`claimgate policy --help` names every subcommand, publish included."""
    from gateway.cli import main

    with pytest.raises(SystemExit) as e:
        main(["policy", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("check", "explain", "publish"))
