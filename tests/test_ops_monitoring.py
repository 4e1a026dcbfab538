"""The shipped monitoring: ops/prometheus/claimgate-rules.yml passes `promtool check
rules` and its unit tests (`promtool test rules`), and the rules and the Grafana
dashboard (ops/grafana/claimgate-dashboard.json) query only metrics the gateway
exports (gateway/metrics.py), with queries that parse."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from gateway import metrics

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "ops" / "prometheus" / "claimgate-rules.yml"
RULES_TEST = ROOT / "ops" / "prometheus" / "tests" / "claimgate-rules.test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "claimgate-dashboard.json"
METRIC = re.compile(r"\bclaimgate_[a-z0-9_]+")
RECORDED = re.compile(r"\bclaimgate:[a-z0-9_:]+")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and not os.environ.get("CI"),
    reason="promtool is not installed (Debian's prometheus package ships it; .ci/run installs it)")


def exported_series() -> set[str]:
    """Every series name gateway/metrics.py exports."""
    names: set[str] = set()
    for obj in vars(metrics).values():
        if not isinstance(obj, MetricWrapperBase):
            continue
        name, kind = obj._name, obj._type
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            names.add(name)
    return names


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def _as_promql(grafana_expr: str) -> str:
    """Grafana's variables replaced by values Prometheus takes."""
    return (grafana_expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
            .replace("$job", ".*"))


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    # As an operator types it: every rules file of the directory (`ops/prometheus/*.yml`);
    # the alerts' unit tests, which are not rules files, live in a directory of their own.
    files = sorted(RULES.parent.glob("*.yml"))
    assert files == [RULES]
    done = subprocess.run(["promtool", "check", "rules", *map(str, files)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_promtool_unit_tests_of_the_alerts() -> None:
    done = subprocess.run(["promtool", "test", "rules", str(RULES_TEST.relative_to(ROOT))],
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    alerts = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    assert alerts and tested == alerts  # every alert has a unit test


def test_rules_query_exported_metrics_and_their_own_recordings() -> None:
    text = RULES.read_text(encoding="utf-8")
    exported = exported_series()
    used = set(METRIC.findall(text))
    assert used and used <= exported, used - exported
    recorded = set(re.findall(r"- record: (\S+)", text))
    assert set(RECORDED.findall(text)) <= recorded
    for needed in ("claimgate_redis_up", "claimgate_shed_total", "claimgate_request_seconds_bucket",
                   "claimgate_stale_retries_total", "claimgate_reconcile_mismatches_total"):
        assert needed in used, needed


def test_dashboard_is_valid_and_queries_exported_metrics() -> None:
    queries = dashboard_queries()
    assert queries
    used = {m for q in queries for m in METRIC.findall(q)}
    exported = exported_series()
    assert used <= exported, used - exported
    # Every exported metric has a panel (a new metric gets one).
    families = {re.sub(r"_(bucket|count|sum)$", "", m) for m in exported}
    shown = {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}
    assert families == shown, families - shown


@needs_promtool
def test_dashboard_queries_parse(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": _as_promql(q)}
        for i, q in enumerate(dashboard_queries())]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
