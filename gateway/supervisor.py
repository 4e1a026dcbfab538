"""Multi-core serving: N worker processes on one port (SO_REUSEPORT), supervised.

The supervisor forks every worker before any gRPC object exists in it (gRPC's
core must not be forked once started), and it starts no threads of its own,
so a fork never copies a lock held by another thread. Each worker runs its own
uvloop event loop and gRPC server with ``grpc.so_reuseport``; the kernel
spreads connections over them.

- SIGTERM / SIGINT: workers stop accepting, drain in-flight requests within the
  grace period and exit; the supervisor waits, then kills what is left.
- A worker that dies is started again (at most ``RESTARTS_MAX`` times within
  ``RESTART_WINDOW_S``, so a worker that cannot start does not spin).
- ``/metrics``: a small forked process serves the sum over all workers
  (prometheus-client multiprocess mode).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field

from gateway.config import Config

log = logging.getLogger("claimgate")

RESTARTS_MAX = 10
RESTART_WINDOW_S = 60.0
POLL_S = 0.1


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def address_in_use(listen: str) -> bool:
    """Whether something already listens on ``listen`` (host:port).

    The workers bind with ``SO_REUSEPORT``, which another gateway's workers set too: two
    gateways on one port would both bind and split the connections between them (a
    plain-text one and a TLS one, say). A plain bind, without it, is refused while any
    socket listens there, so a second gateway finds out before it starts."""
    host, port = _split_listen(listen)
    if port == 0:
        return False
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # the server reports the address itself
    for family, kind, proto, _, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
                s.bind(sockaddr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
    return False


def warm_kernel_cache() -> None:
    """Compile the kernels once, into numba's on-disk cache, before forking: the
    workers then load them instead of each compiling its own."""
    from gateway.demo_catalogue import demo_catalogue
    from rules_compiled import REFERENCE_POLICY_PATH
    from rules_compiled.engine import Engine
    from rules_compiled.policy import load_policy_file

    Engine(load_policy_file(REFERENCE_POLICY_PATH), demo_catalogue()).warm()


def _worker_main(config: Config, index: int) -> int:
    import uvloop

    from gateway.server import serve_forever

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; SIGTERM drains
    log.info("worker %d (pid %d) starting", index, os.getpid())
    uvloop.run(serve_forever(config))
    return 0


def _metrics_main(config: Config) -> int:
    from prometheus_client import CollectorRegistry, multiprocess
    from prometheus_client.exposition import make_server, make_wsgi_app

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    httpd = make_server(config.metrics_addr, config.metrics_port, make_wsgi_app(registry))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    log.info("metrics on http://%s:%d/metrics", config.metrics_addr, config.metrics_port)
    httpd.serve_forever()
    return 0


def describe_exit(status: int) -> str:
    """A wait status in words: "exited with status 1", "killed by SIGKILL"."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with status {code}"


@dataclass
class Supervisor:
    config: Config
    workers: int
    children: dict[int, int] = field(default_factory=dict)  # pid -> worker index (-1 metrics)
    restarts: deque[float] = field(default_factory=deque)
    stopping: bool = False

    def _fork(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                code = _metrics_main(self.config) if index < 0 else _worker_main(
                    self.config, index
                )
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = index

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            log.info("supervisor: %s, draining workers", signal.Signals(signum).name)
        self.stopping = True
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _reap(self) -> tuple[int, int]:
        """(pid, wait status) of one of *our* children that ended, (0, 0) if none has.
        Only the workers' pids are waited for: the process may have other children
        (the private redis-server) whose exit is not ours to collect."""
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # already collected elsewhere: gone all the same
                return pid, 0
            if done:
                return done, status
        return 0, 0

    def run(self) -> int:
        # Not gateway.metrics: the supervisor keeps no metric values of its own.
        from prometheus_client import multiprocess

        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for i in range(self.workers):
            self._fork(i)
        if self.config.metrics_port:
            self._fork(-1)
        stop_deadline: float | None = None
        gave_up = False  # the workers kept dying: a failure, not a requested stop
        while self.children:
            pid, status = self._reap()
            if pid == 0:
                if self.stopping:
                    if stop_deadline is None:
                        stop_deadline = time.monotonic() + self.config.grace_s + 5
                    elif time.monotonic() > stop_deadline:
                        for p in self.children:
                            os.kill(p, signal.SIGKILL)
                time.sleep(POLL_S)
                continue
            index = self.children.pop(pid)
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
            if self.stopping:
                continue
            log.error("worker %d (pid %d) %s; restarting", index, pid, describe_exit(status))
            now = time.monotonic()
            self.restarts.append(now)
            while self.restarts and now - self.restarts[0] > RESTART_WINDOW_S:
                self.restarts.popleft()
            if len(self.restarts) > RESTARTS_MAX:
                log.error("workers keep dying: %d restarts in %.0f s; stopping",
                          len(self.restarts), RESTART_WINDOW_S)
                self._on_signal(signal.SIGTERM, None)
                gave_up = True
                continue
            self._fork(index)
        log.info("supervisor: all workers stopped")
        return 1 if gave_up else 0


def multiprocess_metrics_dir() -> str:
    """Create the directory where workers keep their metric values and point
    prometheus-client at it. Call before ``gateway.metrics`` is first imported."""
    if "gateway.metrics" in sys.modules:
        raise RuntimeError("gateway.metrics was imported before the multiprocess dir was set")
    metrics_dir = tempfile.mkdtemp(prefix="claimgate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    return metrics_dir


def serve_workers(config: Config, metrics_dir: str) -> int:
    """Run ``config.workers`` workers (0: one per core) under a supervisor."""
    workers = config.workers or os.cpu_count() or 1
    host, port = _split_listen(config.listen)
    if port == 0:  # every worker must bind the same port
        port = _free_port(host)
        config.listen = f"{host}:{port}"
    try:
        warm_kernel_cache()
        log.info("serving on %s with %d workers", config.listen, workers)
        return Supervisor(config, workers).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
