"""README.md works as printed: its commands, run the way a newcomer types them in a
fresh copy of the tree, succeed (see :mod:`tests.readme_session` for what runs and
what is skipped, and why).

The copy is the tree's tracked and new files; its ``.venv`` is this checkout's
(``make setup`` already done: a fresh clone would run it in ``make run``). The
session runs in a private network namespace (``unshare --net``) so that the README's
fixed port 50051 cannot meet another gateway on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.readme_session import readme_commands

ROOT = Path(__file__).resolve().parent.parent


def _private_network() -> list[str]:
    """The command prefix that runs the session in its own network namespace."""
    if shutil.which("unshare") and shutil.which("ip"):
        # As root; else as an unprivileged user in a user namespace of its own.
        for unshare in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):
            probe = subprocess.run([*unshare, "ip", "link", "set", "lo", "up"],
                                   capture_output=True, check=False)
            if probe.returncode == 0:
                return [*unshare, "bash", "-c", 'ip link set lo up && exec "$@"', "-"]
    pytest.skip("needs a private network namespace (unshare --net) for the README's "
                "fixed port 50051, so that it cannot meet another gateway")


def _fresh_copy(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
        capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    # The environment is set up: make must not reinstall it (into the copy's path).
    stamp = (ROOT / ".venv" / ".installed").stat().st_mtime
    os.utime(dest / "pyproject.toml", (stamp - 1, stamp - 1))
    return dest


def _files(root: Path) -> set[str]:
    """The files under root, as relative paths (symbolic links not followed: .venv)."""
    return {os.path.relpath(os.path.join(d, f), root)
            for d, _, names in os.walk(root) for f in names}


def test_readme_parsing_finds_the_quick_start() -> None:
    texts = [c.text for c in readme_commands((ROOT / "README.md").read_text())]
    assert "make run" in texts and "make client" in texts
    assert any(t.startswith("docker ") for t in texts)


def test_readme_commands_work_as_printed(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.skip("run `make setup` first: the copy reuses this checkout's .venv")
    prefix = _private_network()
    copy = _fresh_copy(tmp_path / "claimgate")
    copied = _files(copy)
    done = subprocess.run(
        [*prefix, str(ROOT / ".venv" / "bin" / "python"), "-m", "tests.readme_session",
         str(copy)],
        cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False,
        env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        | {"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    failed = [r for r in results if r["outcome"] == "failed"]
    assert not failed, json.dumps(failed, indent=1, ensure_ascii=False)
    ran = {r["command"] for r in results if r["outcome"] == "ok"}
    skipped = {r["command"]: r["reason"] for r in results if r["outcome"] == "skipped"}
    print(json.dumps(results, indent=1, ensure_ascii=False))
    print(json.dumps(skipped, indent=1), file=sys.stderr)
    # The README's own paths: a plain-text demo gateway and a mutual-TLS one, each with
    # a client that settles a claim through it.
    assert {"make run", "make client", "claimgate dev-certs --out certs"} <= ran
    assert any(c.startswith("claimgate serve") and "--tls-cert" in c for c in ran)
    assert any("pharmacy_client.py" in c and "--cert" in c for c in ran)
    assert all(not c.startswith("docker ") for c in ran)
    # Everything the commands created (data, certificates, the CA key, ...) is ignored
    # by git, so that a `git add .` after following the README commits none of it.
    created = sorted(f for f in _files(copy) - copied
                     if not f.startswith(".readme-session/"))
    assert created
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT,
                             input="\n".join(created), capture_output=True, text=True,
                             check=False).stdout.split()
    assert sorted(set(created) - set(ignored)) == []


def test_what_the_readme_creates_is_ignored_by_git() -> None:
    paths = ["bench-out/run.json", "certs/ca.pem", "certs/clients/P31010001.key",
             "ca-private/ca.key",
             ".claimgate/redis/appendonly.aof", "tests/node/node_modules/x.js"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert sorted(done.stdout.split()) == sorted(paths), done
