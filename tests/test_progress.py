"""The progress line of long commands: drawn on a terminal (a real pseudo-terminal here),
quiet when the output is piped."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

from gateway.demo_population import demo_population
from gateway.load_members import write_members_csv
from gateway.progress import Progress, counted


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _read_all(fd: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode()


def test_quiet_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("load members", 1000, unit="members", stream=stream) as p:
        for _ in range(1000):
            p.advance()
    assert stream.getvalue() == ""
    assert list(counted(range(5), "rows", 5, stream=stream)) == [0, 1, 2, 3, 4]
    assert stream.getvalue() == ""


def test_draws_rate_and_time_left_on_a_terminal() -> None:
    master, slave = pty.openpty()
    clock = FakeClock()
    with os.fdopen(slave, "w", closefd=True) as tty:
        p = Progress("load members", 1000, unit="members", stream=tty, clock=clock)
        assert p.enabled  # detected: the stream is a terminal
        clock.now += 2.0
        p.advance(500)  # 250 members/s, 500 left: 2 s
        clock.now += 0.05
        p.advance(100)  # within the redraw interval: not drawn
        clock.now += 1.95
        p.advance(400)
        p.close()
    out = _read_all(master)
    os.close(master)
    frames = [f.strip() for f in out.replace("\r\n", "\n").split("\r") if f.strip()]
    assert frames[0] == "load members: 500/1,000 members (50%), 250 members/s, 2 s left"
    assert frames[-1] == "load members: 1,000/1,000 members (100%), 250 members/s, done in 4 s"
    assert len(frames) == 3  # the skipped redraw was skipped
    assert out.endswith("\n")


def test_a_long_duration_reads_in_minutes() -> None:
    clock = FakeClock()
    p = Progress("seed members", 1_000_000, unit="members", stream=io.StringIO(), clock=clock)
    clock.now += 10
    p.done = 10_000
    assert p.line() == ("seed members: 10,000/1,000,000 members (1%), 1,000 members/s, "
                        "16 min 30 s left")


def _load(path: Path, redis_url: str, stderr: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "load", "members", str(path),
         "--redis-url", redis_url],
        stdout=subprocess.PIPE, stderr=stderr, timeout=120, check=True)


def test_load_shows_progress_on_a_terminal_only(tmp_path: Path, redis_url: str) -> None:
    path = tmp_path / "members.csv"
    write_members_csv(path, demo_population(3000, seed=7))
    piped = _load(path, redis_url, subprocess.PIPE)
    assert b"load members:" not in piped.stderr and b"\r" not in piped.stderr
    master, slave = pty.openpty()
    try:
        shown = _load(path, redis_url, slave)
    finally:
        os.close(slave)
    out = _read_all(master)
    os.close(master)
    assert b"loaded 3000 members" in shown.stdout
    assert "load members: 3,000/3,000 members (100%)" in out
    assert "members/s" in out
