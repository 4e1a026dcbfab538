"""The access log's lines: fields, order, cuts, batching and the bound on the queue."""

from __future__ import annotations

import io

import orjson
import pytest
from prometheus_client import REGISTRY

from gateway import accesslog
from gateway.accesslog import AccessLog


class CountingBuffer(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(b)


def test_a_call_line_has_its_fields_in_order_cut_to_their_limits() -> None:
    out = CountingBuffer()
    log = AccessLog(out=out)
    log.call("R" * 100, "P31010001", "M1", "Settle", "OK", 0.0012345, "",
             ["W1", *[f"W{i}" for i in range(2, 30)]])
    log.call("R2", "", "", "Settle", "INVALID_ARGUMENT", 0.5, "BAD_LINE", [])
    log.write(request_id="X" * 70, n=3)
    log.start()
    log.close()
    first, second, third = out.getvalue().splitlines()
    a = orjson.loads(first)
    assert list(a) == ["request_id", "institution", "psn_no", "method", "status",
                       "latency_ms", "reasons", "ts"]
    assert a["request_id"] == "R" * accesslog.FIELD_MAX + "..."
    assert (a["institution"], a["psn_no"], a["method"], a["status"], a["latency_ms"]) == (
        "P31010001", "M1", "Settle", "OK", 1.234)
    assert a["reasons"] == [f"W{i}" for i in range(1, accesslog.LIST_MAX + 1)]
    assert orjson.loads(second)["reasons"] == ["BAD_LINE"]
    assert orjson.loads(third) == {"request_id": "X" * accesslog.FIELD_MAX + "...", "n": 3,
                                   "ts": orjson.loads(third)["ts"]}
    assert out.writes == 1  # what had gathered is written in one go


def test_a_full_queue_drops_and_counts_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accesslog, "QUEUE_MAX", 2)
    out = io.BytesIO()
    log = AccessLog(out=out)  # not started: nothing is taken from the queue
    before = REGISTRY.get_sample_value("claimgate_log_lines_dropped_total") or 0.0
    for i in range(3):
        log.call(f"R{i}", "", "", "Settle", "OK", 0.001, "", [])
    assert REGISTRY.get_sample_value("claimgate_log_lines_dropped_total") == before + 1
    log.start()
    log.close()
    assert [orjson.loads(x)["request_id"] for x in out.getvalue().splitlines()] == ["R0", "R1"]
