"""CPU time from ``/proc``: of a process and its threads (utime + stime of
``/proc/PID/stat`` and ``/proc/PID/task/*/stat``), and of the whole machine, per CPU
(``/proc/stat``). Linux only; nothing here imports the gateway."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- CPU time of a process, per thread ----------------------------------------------------
@dataclass(frozen=True)
class CpuSnapshot:
    utime_s: float
    stime_s: float
    threads: dict[int, tuple[str, float]]  # tid -> (name, utime + stime seconds)

    @property
    def total_s(self) -> float:
        return self.utime_s + self.stime_s


def _stat_fields(path: Path) -> tuple[str, list[str]]:
    raw = path.read_text()
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    return name, raw[raw.rindex(")") + 2:].split()


def cpu_snapshot(pid: int) -> CpuSnapshot:
    """utime and stime of the whole process (every thread, live or exited) and of each
    live thread, from /proc."""
    _, f = _stat_fields(Path(f"/proc/{pid}/stat"))
    threads: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            name, tf = _stat_fields(task / "stat")
            threads[int(task.name)] = (name, (int(tf[11]) + int(tf[12])) / CLK_TCK)
    return CpuSnapshot(int(f[11]) / CLK_TCK, int(f[12]) / CLK_TCK, threads)


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of the process's live threads (each
    one a thread that blocked or was preempted, and later woken: for a server, mostly
    its event loop going idle and being woken by the next event)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split(":", 1)[1])
    return total


def cpu_delta(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, Any]:
    threads: dict[int, tuple[str, float]] = {}
    for tid, (name, s) in b.threads.items():
        threads[tid] = (name, s - a.threads.get(tid, (name, 0.0))[1])
    return {"utime_s": b.utime_s - a.utime_s, "stime_s": b.stime_s - a.stime_s,
            "total_s": b.total_s - a.total_s, "threads": threads}


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (of its main thread: a process that starts no
    threads, such as the gateway's supervisor)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


# --- CPU time of the machine, per CPU -----------------------------------------------------
@dataclass(frozen=True)
class MachineSnapshot:
    """Per CPU: (busy, total) seconds since boot; busy is everything but idle and
    iowait (user, nice, system, irq, softirq, steal). ``steal``: the seconds, all CPUs
    together, that the hypervisor gave to other machines while this one wanted to run."""

    cpus: dict[int, tuple[float, float]]
    steal: float = 0.0


def parse_proc_stat(text: str) -> MachineSnapshot:
    cpus: dict[int, tuple[float, float]] = {}
    steal = 0.0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        # user nice system idle iowait irq softirq steal (guest time is within user)
        ticks = [int(x) for x in rest.split()[:8]]
        total = sum(ticks)
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        cpus[int(name[3:])] = ((total - idle) / CLK_TCK, total / CLK_TCK)
        steal += (ticks[7] if len(ticks) > 7 else 0) / CLK_TCK
    return MachineSnapshot(cpus, steal)


def machine_snapshot() -> MachineSnapshot:
    return parse_proc_stat(Path("/proc/stat").read_text())


def machine_delta(a: MachineSnapshot, b: MachineSnapshot) -> dict[str, Any]:
    """Busy share of each CPU between two snapshots, and the busy seconds of all of them."""
    busy: dict[int, float] = {}
    share: dict[int, float] = {}
    for cpu, (b_busy, b_total) in b.cpus.items():
        a_busy, a_total = a.cpus.get(cpu, (0.0, 0.0))
        busy[cpu] = max(0.0, b_busy - a_busy)
        total = b_total - a_total
        share[cpu] = busy[cpu] / total if total > 0 else 0.0
    total_s = sum(b_total - a.cpus.get(cpu, (0.0, 0.0))[1] for cpu, (_, b_total) in b.cpus.items())
    steal_s = max(0.0, b.steal - a.steal)
    return {"busy_s": sum(busy.values()), "busy_s_by_cpu": busy, "busy_share_by_cpu": share,
            "steal_s": steal_s, "steal_share": steal_s / total_s if total_s > 0 else 0.0}
