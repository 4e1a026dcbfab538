"""`claimgate serve` with its private Redis, stopped the way an operator stops it.

Ctrl-C reaches the whole foreground process group: the supervisor, its workers and
the private redis-server. The stop must be clean (exit status 0, no traceback), and
a worker killed by a signal is logged with the signal's name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from tests.integration.harness import free_port, health_status, wait_for, worker_pids_from_log


def test_ctrl_c_stops_cleanly_and_a_killed_worker_is_named_by_its_signal(
    tmp_path: Path,
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--seed-demo", "--members", "20",
             "--workers", "1", "--plaintext", "--listen", f"127.0.0.1:{port}",
             "--data-dir", str(tmp_path / "data"), "--grace-s", "2"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,  # its own group
        )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            serving = health_pb2.HealthCheckResponse.SERVING
            wait_for(lambda: health_status(ch) == serving, "SERVING", 120)
            [worker] = worker_pids_from_log(log)
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: b"killed by SIGKILL" in log.read_bytes(), "the kill logged")
            wait_for(lambda: worker_pids_from_log(log) not in ([], [worker]), "a new worker")
            wait_for(lambda: health_status(ch) == serving, "SERVING again", 120)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert "exited with status 9" not in text


def test_serve_exits_with_a_failure_status_when_its_workers_keep_dying(
    tmp_path: Path,
) -> None:
    """Workers that keep dying (here: each one killed as soon as it has started) make
    the supervisor give up, and its exit status says so, so that a service manager
    restarts it or reports the failure."""
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--seed-demo", "--members", "0",
             "--workers", "1", "--plaintext", "--listen", f"127.0.0.1:{free_port()}",
             "--data-dir", str(tmp_path / "data"), "--appendfsync", "everysec"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        killed: set[int] = set()
        deadline = time.monotonic() + 240  # bounded: the supervisor gives up after 11
        while proc.poll() is None and time.monotonic() < deadline:
            for worker in set(worker_pids_from_log(log)) - killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGKILL)
                killed.add(worker)
            time.sleep(0.05)
        assert proc.wait(60) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    assert "workers keep dying" in text, text
    assert len(killed) > 10


def test_serve_says_it_waits_for_redis_and_ctrl_c_then_stops_without_a_traceback(
    tmp_path: Path,
) -> None:
    """A Redis that does not answer (a wrong --redis-url) is named at once, not after the
    start-up wait; Ctrl-C during that wait ends the command with no traceback."""
    port = free_port()  # nothing listens there
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--plaintext", "--workers", "1",
             "--listen", f"127.0.0.1:{free_port()}",
             "--redis-url", f"redis://:secret-pw@127.0.0.1:{port}/0"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: b"not answering" in log.read_bytes() or proc.poll() is not None,
                 "the wait for Redis logged", 60)
        assert proc.poll() is None, log.read_text(errors="replace")
        text = log.read_text(errors="replace")
        assert f"127.0.0.1:{port}" in text and "secret-pw" not in text
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in log.read_text(errors="replace")
