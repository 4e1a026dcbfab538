"""The suite runs where the gateway runs: no redis-server on PATH (the gateway's own
fallback binary), no activated virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bench.suite import claimgate_cli, private_redis, redis_forks, redis_server_binary
from gateway.redis_server import RedisServerError, find_redis_server

ROOT = Path(__file__).resolve().parents[2]


def _path_without(program: str) -> str:
    return os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not (Path(d) / program).exists()
    )


@pytest.fixture
def no_redis_on_path(monkeypatch: pytest.MonkeyPatch) -> str:
    path = _path_without("redis-server")
    monkeypatch.setenv("PATH", path)
    assert shutil.which("redis-server") is None
    try:
        return find_redis_server()  # what `make run` would start now
    except RedisServerError as e:
        pytest.skip(f"the gateway has no fallback redis-server here: {e}")


def test_suite_redis_without_redis_server_on_path(no_redis_on_path: str,
                                                   tmp_path: Path) -> None:
    assert redis_server_binary() == no_redis_on_path
    (tmp_path / "data").mkdir()
    with private_redis(tmp_path / "data", tmp_path / "redis.log", "everysec") as url:
        # The suite's next step, through the claimgate of this interpreter.
        done = subprocess.run([*claimgate_cli(), "seed", "--members", "0", "--redis-url", url],
                              capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        r = redis.Redis.from_url(url)
        try:
            assert Path(str(r.info("server")["executable"])).resolve() == Path(
                no_redis_on_path).resolve()
            assert r.config_get("appendonly") == {"appendonly": "yes"}
            assert r.dbsize() > 0
        finally:
            r.close()


def test_claimgate_is_this_interpreters() -> None:
    cmd = claimgate_cli()
    assert cmd[0] in (str(Path(sys.executable).with_name("claimgate")), sys.executable)


def test_run_all_uses_the_project_virtualenv_unactivated(tmp_path: Path) -> None:
    venv_python = ROOT / ".venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                  if d and d != bin_dir)
    env["PYTHON"] = sys.executable  # used only where the project has no .venv
    done = subprocess.run(["sh", str(ROOT / "bench" / "run_all.sh"), "--help"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m bench suite" in done.stdout
    expected = venv_python if venv_python.exists() else Path(sys.executable)
    assert f"[run_all] python: {expected}" in done.stderr


def _wait_rewrite_done(r: redis.Redis) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = r.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise AssertionError("the AOF rewrite did not finish")


def test_redis_forks_counts_the_aof_rewrites(tmp_path: Path) -> None:
    """The suite's half-load phase reports the AOF rewrites that ran during it."""
    (tmp_path / "data").mkdir()
    with private_redis(tmp_path / "data", tmp_path / "redis.log", "everysec") as url:
        r = redis.Redis.from_url(url)
        try:
            _wait_rewrite_done(r)
            before = redis_forks(url)
            assert redis_forks(url) == before  # reading it does not fork
            for _ in range(2):
                r.bgrewriteaof()
                _wait_rewrite_done(r)
            assert redis_forks(url) == before + 2
        finally:
            r.close()
