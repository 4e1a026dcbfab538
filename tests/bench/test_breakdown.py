"""``python -m bench breakdown``: the stage table maps the frames py-spy reports for the
claim path, conserves the measured CPU, and runs end to end (structure only: no timing
is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench import breakdown as bd

ROOT = Path(__file__).resolve().parents[2]
CYGRPC = "0x7f107fee6dd2 (grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so)"
# The root of every event-loop-thread stack of a gateway worker, as py-spy --native writes it.
LOOP = [
    "<module> (claimgate:6)", "main (gateway/cli.py:262)", "cmd_serve (gateway/cli.py:91)",
    "Supervisor._fork (gateway/supervisor.py:100)", "_worker_main (gateway/supervisor.py:68)",
    "run (uvloop/__init__.py:92)", "Runner.run (asyncio/runners.py:118)",
    "run_forever (loop.c:33397)", "Loop__run (loop.c:20313)", "uv_run (core.c:452)",
    "uv__run_idle (loop-watcher.c:68)", "Handle__run (loop.c:70959)",
    "task_step (_asynciomodule.c:2990)", "task_step_impl (_asynciomodule.c:2704)", CYGRPC,
]
HANDLER = [*LOOP, "_served.<locals>.wrapped (gateway/calls.py:118)",
           "ClaimGatewayService.Settle (gateway/service.py:284)",
           "ClaimPath.settle (gateway/claims.py:290)",
           "ClaimPath._settle (gateway/claims.py:333)"]
ADJUDICATE = [*HANDLER, "ClaimPath.adjudicate (gateway/claims.py:458)"]
KERNEL_RUN = [*LOOP[:-3], "Adjudicator._run_pending (gateway/adjudicator.py:120)",
              "_run (gateway/adjudicator.py:140)"]
THREAD = ["0x7f10816a71f5 (libc.so.6)", "thread_run (libpython3.11.so.1.0)",
          "Thread._bootstrap (threading.py:995)", "Thread._bootstrap_inner (threading.py:1038)",
          "Thread.run (threading.py:975)"]

KNOWN: list[tuple[str, list[str]]] = [
    ("gRPC in and out", [*LOOP, CYGRPC, "sendmsg (libc.so.6)"]),
    ("gRPC in and out", [*THREAD, CYGRPC, "0x7f107fb749cf (grpc/_cython/cygrpc.so)",
                         "syscall (libc.so.6)"]),
    ("event loop", [*LOOP[:-3], "uv__io_poll (linux.c:1460)", "uv__io_poll (linux.c:1500)"]),
    ("event loop", LOOP[:10]),
    ("decode and validation", [*LOOP, "_upb_Decoder_DecodeMessage (_message.abi3.so)"]),
    ("decode and validation", [*HANDLER, "check_settle (gateway/validate.py:140)",
                               "check_lines (gateway/validate.py:99)"]),
    ("admission and budget", [*HANDLER, "check (gateway/budget.py:84)",
                              "clock_gettime (libc.so.6)"]),
    ("admission and budget", [*LOOP, "_served.<locals>.wrapped (gateway/calls.py:100)",
                              "Admission.enter (gateway/admission.py:52)"]),
    ("Redis read", [*HANDLER, "Store.read_member (gateway/store.py:602)",
                    "member_from_profile (gateway/record_codecs.py:82)",
                    "0x7f1 (orjson/orjson.cpython-311-x86_64-linux-gnu.so)"]),
    ("Redis read", [*HANDLER, "Store.read_member (gateway/store.py:590)",
                    "Store._bounded (gateway/store.py:455)",
                    "FastRedis.evalsha (gateway/fastredis.py:250)",
                    "_encode (gateway/fastredis.py:44)"]),
    ("row building", [*ADJUDICATE, "claim_row (gateway/settlement.py:154)",
                      "PyArray_NewFromDescr_int (numpy/_core/_multiarray_umath.so)"]),
    ("row building", [*ADJUDICATE, "gate_reason (gateway/settlement.py:72)"]),
    # A large claim's columns (gateway/line_columns.py): reading them and the kernel rows
    # are row building, even inside their comprehensions; the wire bytes are the response.
    ("row building", [*ADJUDICATE, "LineColumns.of (gateway/line_columns.py:70)",
                      "LineColumns.of.<locals>.ints (gateway/line_columns.py:71)",
                      "LineColumns.of.<locals>.<genexpr> (gateway/line_columns.py:71)"]),
    ("row building", [*HANDLER, "ClaimPath._episode_lines (gateway/claims.py:300)",
                      "read_lines (gateway/line_wire.py:180)",
                      "_distinct (gateway/line_wire.py:270)"]),
    ("row building", [*ADJUDICATE, "line_rows_of_columns (gateway/settlement.py:266)",
                      "line_rows (gateway/line_columns.py:92)",
                      "line_rows.<locals>.<listcomp> (gateway/line_columns.py:92)"]),
    ("response building", [*ADJUDICATE, "line_results_wire (gateway/line_columns.py:200)",
                           "_encode_messages (gateway/line_columns.py:230)"]),
    ("kernel", [*KERNEL_RUN, "Engine.adjudicate (rules_compiled/engine.py:69)",
                "0x7f107db57a34 (?)"]),
    ("kernel", [*KERNEL_RUN, "stack (numpy/_core/shape_base.py:460)"]),
    ("invariant checks", [*KERNEL_RUN, "broken_invariant (gateway/adjudicator.py:70)",
                          "<genexpr> (gateway/adjudicator.py:72)"]),
    ("decode and validation", [*HANDLER, "decode (gateway/claims.py:95)"]),
    ("row building", [*HANDLER, "decode (gateway/claims.py:97)",
                      "institution_of (gateway/claims.py:60)"]),
    ("response building", [*ADJUDICATE, "add_line_results (gateway/settlement.py:260)",
                           "PyUpb_RepeatedContainer_Item (_message.abi3.so)"]),
    ("response building", [*HANDLER, "PyUpb_Message_SerializeToString (_message.abi3.so)",
                           "upb_Encode (_message.abi3.so)"]),
    ("response building", [*LOOP, "PyUpb_Message_SerializeToString (_message.abi3.so)"]),
    ("response building", [*ADJUDICATE, "PyUpb_Message_CopyFrom (_message.abi3.so)",
                           "_upb_Decoder_DecodeMessage (_message.abi3.so)"]),
    ("decode and validation", [*LOOP, CYGRPC, "deserialize (gateway/security.py:38)",
                               "PyUpb_Message_FromString (_message.abi3.so)",
                               "_upb_Decoder_DecodeMessage (_message.abi3.so)"]),
    ("response building", [*LOOP, "EchoGateway.Settle (bench/echo_server.py:33)",
                           "settlement_for (bench/echo_server.py:66)"]),
    ("commit arguments", [*HANDLER, "commit_plan (gateway/settlement.py:324)"]),
    ("commit arguments", [*HANDLER, "request_hash (gateway/settlement.py:53)",
                          "PyUpb_Message_SerializeToString (_message.abi3.so)"]),
    ("commit arguments", [*HANDLER, "Store.commit_settlement (gateway/store.py:652)",
                          "Store._bounded (gateway/store.py:450)",
                          "FastRedis.evalsha (gateway/fastredis.py:250)",
                          "_encode (gateway/fastredis.py:44)"]),
    ("commit", [*HANDLER, "Store.commit_settlement (gateway/store.py:652)"]),
    ("commit", [*HANDLER, "Store.commit_settlement (gateway/store.py:660)",
                "Store._bounded (gateway/store.py:455)",
                "wait_for (asyncio/tasks.py:479)"]),
    ("Redis socket I/O", [*LOOP[:-3], "_Connection._flush (gateway/fastredis.py:128)",
                          "write (loop.c:1)"]),
    ("Redis socket I/O", [*LOOP[:-3], "_Connection.data_received (gateway/fastredis.py:100)",
                          "Reader_gets (hiredis/hiredis.cpython-311.so)"]),
    ("metrics", [*KERNEL_RUN, "kernel_time (gateway/metrics.py:137)",
                 "_observe (gateway/metrics.py:105)"]),
    ("metrics", [*LOOP, "_served.<locals>.wrapped (gateway/calls.py:140)",
                 "_Call.finish (gateway/calls.py:160)",
                 "_record (gateway/calls.py:189)",
                 "request_done (gateway/metrics.py:70)"]),
    ("access log", [*LOOP, "_served.<locals>.wrapped (gateway/calls.py:140)",
                    "_record (gateway/calls.py:190)",
                    "AccessLog.write (gateway/accesslog.py:41)"]),
    ("access log", [*THREAD, "AccessLog._run (gateway/accesslog.py:66)",
                    "0x7f1 (orjson/orjson.cpython-311-x86_64-linux-gnu.so)"]),
    ("garbage collector", [*ADJUDICATE, "claim_row (gateway/settlement.py:154)",
                           "gc_collect_main (libpython3.11.so.1.0)"]),
    ("handler glue", [*HANDLER, "list (libpython3.11.so.1.0)"]),
    ("handler glue", [*LOOP, "_served.<locals>.wrapped (gateway/calls.py:140)",
                      "_Call.receive (gateway/calls.py:150)"]),
    # A bounded wait: what runs inside it is the awaited work's.
    ("gRPC in and out", [*LOOP, "_served.<locals>.wrapped (gateway/calls.py:140)",
                         "_Call.receive (gateway/calls.py:150)",
                         "within (gateway/budget.py:120)", CYGRPC]),
    ("Redis read", [*HANDLER, "Store.read_member (gateway/store.py:590)",
                    "Store._bounded (gateway/store.py:455)", "within (gateway/budget.py:120)",
                    "FastRedis.evalsha (gateway/fastredis.py:250)"]),
    ("admission and budget", [*HANDLER, "Store.read_member (gateway/store.py:590)",
                              "Store._bounded (gateway/store.py:455)",
                              "within (gateway/budget.py:118)"]),
    ("admission and budget", [*LOOP[:-3], "_Expiries.fire (gateway/budget.py:100)"]),
    # Project code that no rule knows is "other", not hidden under gRPC or the loop.
    ("other", [*LOOP, "run_batch (gateway/pipeline.py:10)"]),
    ("other", [*LOOP[:-3], "_monitor_store (gateway/server.py:166)"]),
    (bd.WAITING, [*LOOP[:10], "uv__io_poll (linux.c:1460)", "epoll_wait (libc.so.6)"]),
    (bd.WAITING, [*THREAD, "AccessLog._run (gateway/accesslog.py:58)",
                  "Queue.get (queue.py:171)", "Condition.wait (threading.py:320)",
                  "lock_PyThread_acquire_lock (libpython3.11.so.1.0)",
                  "PyThread_acquire_lock_timed (libpython3.11.so.1.0)",
                  "0x7f10816a3f16 (libc.so.6)"]),
]


@pytest.mark.parametrize(("stage", "frames"), KNOWN,
                         ids=[f"{i}-{s}" for i, (s, _) in enumerate(KNOWN)])
def test_known_frames_get_their_stage(stage: str, frames: list[str]) -> None:
    assert bd.stage_of(frames) == stage


def test_every_stage_of_the_table_is_reported() -> None:
    named = {s for s, _, _ in bd.RULES + bd.FALLBACK_RULES} | {s for _, s in bd.THREAD_RULES}
    assert named | {bd.OTHER} == set(bd.STAGES)
    assert {s for s, _ in KNOWN} >= set(bd.STAGES)  # every stage has a known frame here


def test_thread_names_of_unsampled_threads() -> None:
    assert bd.stage_of_thread("grpc_global_tim") == "gRPC in and out"
    assert bd.stage_of_thread("event_engine") == "gRPC in and out"
    assert bd.stage_of_thread("access-log") == "access log"
    assert bd.stage_of_thread("numba-worker") == bd.OTHER


def test_parse_raw_groups_by_thread_and_keeps_waiting_apart() -> None:
    raw = "\n".join([
        "thread (101): MainThread;" + ";".join([*ADJUDICATE, "Engine.adjudicate "
                                                "(rules_compiled/engine.py:69)"]) + " 30",
        "thread (101): MainThread;" + ";".join([*LOOP, "run_batch (gateway/pipeline.py:10)"])
        + " 10",
        "thread (101): MainThread;" + ";".join([*LOOP[:10], "epoll_wait (libc.so.6)"]) + " 50",
        "thread (102): Thread-1 (_poll_wrapper);" + ";".join([*THREAD, CYGRPC]) + " 5",
        "not a sample line",
    ])
    prof = bd.parse_raw(raw)
    assert prof.samples[101] == Counter({"kernel": 30, "other": 10, bd.WAITING: 50})
    assert prof.samples[102] == Counter({"gRPC in and out": 5})
    assert prof.names == {101: "MainThread", 102: "Thread-1 (_poll_wrapper)"}
    assert prof.total == 45 and prof.waiting == 50
    assert any("gateway/pipeline.py" in f for f in prof.unmatched)


def test_attribution_splits_each_threads_cpu_and_conserves_the_total() -> None:
    prof = bd.parse_raw("\n".join([
        "thread (7): MainThread;" + ";".join([*HANDLER, "commit_plan "
                                              "(gateway/settlement.py:324)"]) + " 30",
        "thread (7): MainThread;" + ";".join([*LOOP, "sendmsg (libc.so.6)"]) + " 10",
        "thread (7): MainThread;" + ";".join([*LOOP[:10], "epoll_wait (libc.so.6)"]) + " 99",
        # too few samples to split a thread by: its name decides
        "thread (8): access-log;" + ";".join([*THREAD, "AccessLog._run "
                                              "(gateway/accesslog.py:66)"]) + " 2",
    ]))
    runs = [
        {"total_s": 1.15, "threads": {7: ("claimgate", 0.8), 8: ("claimgate", 0.05),
                                      9: ("grpc_global_tim", 0.2)}},
        {"total_s": 1.35, "threads": {7: ("claimgate", 1.0), 8: ("claimgate", 0.05),
                                      9: ("grpc_global_tim", 0.2)}},
    ]
    out = bd.attribute(runs, requests=1000, pid=7, prof=prof)
    us = out["stages_us"]
    assert list(us) == list(bd.STAGES)
    assert us["commit arguments"] == pytest.approx(675.0)  # 3/4 of the loop thread's 900
    assert us["gRPC in and out"] == pytest.approx(225.0 + 200.0)  # 1/4, and thread 9
    assert us["access log"] == pytest.approx(50.0)
    assert us[bd.OTHER] == pytest.approx(100.0)  # CPU of threads that exited meanwhile
    assert sum(us.values()) == pytest.approx(1250.0, abs=0.5)
    assert [t["tid"] for t in out["threads"]] == [7, 9, 8, 0]


def test_the_median_run_decides() -> None:
    runs = [{"total_s": t} for t in (5.0, 1.0, 3.0)]
    assert bd.middle_runs(runs) == [{"total_s": 3.0}]
    assert bd.middle_runs([*runs, {"total_s": 4.0}]) == [{"total_s": 3.0}, {"total_s": 4.0}]
    assert bd.middle_runs(runs[:1]) == runs[:1]


def test_cpu_snapshot_of_this_process() -> None:
    a = bd.cpu_snapshot(os.getpid())
    sum(i * i for i in range(300_000))  # some CPU
    b = bd.cpu_snapshot(os.getpid())
    d = bd.cpu_delta(a, b)
    assert d["total_s"] >= 0 and os.getpid() in b.threads
    assert d["total_s"] == pytest.approx(d["utime_s"] + d["stime_s"])


def test_context_switches_count_a_thread_that_blocks() -> None:
    before = bd.context_switches(os.getpid())
    for _ in range(5):
        time.sleep(0.001)  # each sleep blocks the thread: a voluntary switch
    assert bd.context_switches(os.getpid()) >= before + 5


@pytest.mark.skipif(bd._py_spy() is None, reason="py-spy not installed (the bench extra)")
def test_breakdown_end_to_end_on_a_few_requests(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "breakdown", "--out", str(out), "--requests", "40",
           "--repeats", "1", "--warmup", "10", "--clients", "4", "--rate", "500",
           "--members", "200", "--server-cpus", "", "--client-cpus", ""]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "breakdown.json").read_text())
    assert set(report["targets"]) == {"echo", "gateway"}
    for label, target in report["targets"].items():
        assert set(target) == set(bd.METHODS), label
        for method, r in target.items():
            assert sum(r["outcomes"].values()) == 40, (label, method, r["outcomes"])
            assert list(r["stages_us"]) == list(bd.STAGES)
            assert len(r["cpu_us_per_request_runs"]) == 1
            assert r["context_switches_per_request"] > 0, (label, method)
            # Attribution conserves the measured CPU (rounding aside).
            assert sum(r["stages_us"].values()) == pytest.approx(
                r["cpu_us_per_request"], abs=0.1 * len(bd.STAGES) + 0.1)
            assert (out / r["profile_raw"]).exists()
    gw = report["targets"]["gateway"]
    assert gw["Settle"]["outcomes"].get("SETTLED 3 lines", 0) > 0
    assert gw["PreSettle"]["outcomes"].get("QUOTED 3 lines", 0) > 0
    # The kept CPU runs and profiles give the same table again (``--from DIR``).
    again = bd.reattribute(out)
    for label, target in report["targets"].items():
        for method, r in target.items():
            assert again["targets"][label][method]["stages_us"] == r["stages_us"]
    md = (out / "breakdown.md").read_text()
    assert "| stage (µs CPU / request) |" in md and "share of the ceiling" in md
    for stage in ("gRPC in and out", "other"):
        assert f"| {stage} |" in md
