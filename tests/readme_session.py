"""Run README.md's shell commands as a newcomer types them, in a copy of the tree.

    python -m tests.readme_session COPY_DIR   # prints one JSON object per command

The commands come from README.md at run time: every ```sh block (continuation lines
joined, comments dropped) and every inline `claimgate ... --flag` / `python ... -x`
span of the prose, in the order they appear. Each command runs in bash in COPY_DIR
after the session's earlier state commands (``. .venv/bin/activate``, ``export``,
``cd``), as in one terminal. A server command (``make run``, ``claimgate serve``)
runs in the background until it reports SERVING, and is stopped with SIGINT, as
Ctrl-C would, before the next server starts and at the end. Templates (``FILE``,
``N``, ``[--flag]``, ``a|b``, ``...``) and commands that cannot or should not run
here (docker, the test suite itself) are reported as skipped, with the reason.

:mod:`tests.test_readme` runs this in a private network namespace, so the README's
fixed port 50051 is the session's own.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.healthcheck import probe

README_PORT = 50051
SERVER_START_S = 300.0

_FENCE = re.compile(r"^```(\w*)\s*$")
_INLINE = re.compile(r"`([^`\n]+)`")
# A token that stands for something the reader fills in.
_PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*(?:\.[A-Za-z]+)*|\.\.\.)$")

SKIPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^docker\b"), "docker: needs a container engine and image pulls"),
    (re.compile(r"^make (test|test-cluster|lint)\b"),
     "the test suite and lint themselves (.ci/run runs them)"),
)


@dataclass(frozen=True)
class Command:
    text: str
    line: int  # 1-based line in README.md where it starts
    inline: bool = False

    @property
    def words(self) -> list[str]:
        try:
            return shlex.split(self.text)
        except ValueError:
            return self.text.split()

    def skip_reason(self) -> str:
        for pattern, reason in SKIPS:
            if pattern.search(self.text):
                return reason
        for word in self.words:
            if _PLACEHOLDER.match(word) or "|" in word or word.startswith("["):
                return f"template ({word} stands for what the reader fills in)"
        return ""

    @property
    def is_state(self) -> bool:
        return self.words[:1] in (["."], ["source"], ["export"], ["cd"])

    @property
    def is_server(self) -> bool:
        w = self.words
        return w[:2] == ["make", "run"] or (len(w) >= 2 and w[0].endswith("claimgate")
                                           and w[1] == "serve")


def _strip_comment(line: str) -> str:
    out, quote = [], ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            break
        out.append(ch)
    return "".join(out).rstrip()


def readme_commands(text: str) -> list[Command]:
    """The README's commands in reading order."""
    commands: list[Command] = []
    fence: str | None = None
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line.strip())
        if m:
            fence = (m.group(1) or "text") if fence is None else None
            continue
        if fence in ("sh", "bash", "shell", "console"):
            body = _strip_comment(line)
            if not pending:
                start = number
            if body.endswith("\\"):
                pending += body[:-1].strip() + " "
                continue
            cmd = (pending + body.strip()).strip()
            if fence == "console" and cmd.startswith("$ "):
                cmd = cmd[2:]
            pending = ""
            if cmd:
                commands.append(Command(cmd, start))
        elif fence is None:
            for span in _INLINE.findall(line):
                words = span.split()
                # A command to type, not a mention: it has an option and ends complete
                # (`claimgate dev-certs --out` names an option); servers are in blocks.
                if (len(words) >= 3 and words[0] in ("claimgate", "python")
                        and any(w.startswith("-") for w in words[1:])
                        and not words[-1].startswith("-")):
                    c = Command(span, number, inline=True)
                    if not c.is_server:
                        commands.append(c)
    seen: set[str] = set()
    unique = []
    for c in commands:
        if c.text not in seen:
            seen.add(c.text)
            unique.append(c)
    return unique


def _tls_files(words: list[str]) -> tuple[str, str, str]:
    """CA and the ops client certificate for a TLS ``claimgate serve`` (dev-certs layout)."""
    if "--tls-client-ca" not in words:
        return "", "", ""
    ca = Path(words[words.index("--tls-client-ca") + 1])
    ops = ca.parent / "clients"
    return str(ca), str(ops / "ops.pem"), str(ops / "ops.key")


class Session:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state: list[str] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.logs = root / ".readme-session"
        self.logs.mkdir(exist_ok=True)

    def _script(self, command: str) -> str:
        return "\n".join([*self.state, command])

    def run(self, command: Command) -> dict[str, object]:
        result: dict[str, object] = {"line": command.line, "command": command.text}
        reason = command.skip_reason()
        if reason:
            return {**result, "outcome": "skipped", "reason": reason}
        if command.is_state:
            self.state.append(command.text)
            done = subprocess.run(["bash", "-ec", self._script("true")], cwd=self.root,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=60, check=False)
            return {**result, "outcome": "ok" if done.returncode == 0 else "failed",
                    "returncode": done.returncode, "output": done.stdout + done.stderr}
        if command.is_server:
            return {**result, **self._serve(command)}
        done = subprocess.run(["bash", "-ec", self._script(command.text)], cwd=self.root,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=600, check=False)
        return {**result, "outcome": "ok" if done.returncode == 0 else "failed",
                "returncode": done.returncode, "output": (done.stdout + done.stderr)[-4000:]}

    def _serve(self, command: Command) -> dict[str, object]:
        self.stop_server()
        log = self.logs / f"server-{command.line}.log"
        with log.open("wb") as out:
            self.server = subprocess.Popen(
                ["bash", "-ec", self._script(command.text)], cwd=self.root, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        ca, cert, key = _tls_files(command.words)
        host = "localhost" if ca else "127.0.0.1"
        end = time.monotonic() + SERVER_START_S
        while time.monotonic() < end:
            if self.server.poll() is not None:
                return {"outcome": "failed", "returncode": self.server.returncode,
                        "output": log.read_text(errors="replace")[-4000:]}
            files = [self.root / f for f in (ca, cert, key) if f]
            if all(f.is_file() for f in files) and probe(
                f"{host}:{README_PORT}", 2.0, ca=str(self.root / ca) if ca else "",
                cert=str(self.root / cert) if cert else "", key=str(self.root / key) if key else "",
            ).state == "SERVING":
                return {"outcome": "ok", "server": True}
            time.sleep(0.5)
        return {"outcome": "failed", "output": "not SERVING in time: "
                + log.read_text(errors="replace")[-4000:]}

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            self.server = None
            return
        os.killpg(self.server.pid, signal.SIGINT)  # Ctrl-C in the server's terminal
        try:
            self.server.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(30)
        self.server = None


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve()
    session = Session(root)
    try:
        for command in readme_commands((root / "README.md").read_text(encoding="utf-8")):
            print(json.dumps(session.run(command)), flush=True)
    finally:
        session.stop_server()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
