"""Process priority: the heavy work of a job yields the CPU to requests.

Two means, both open to any user (neither needs privileges) and both kept by every thread a
thread starts:
- a niceness: a share of the CPU against busier processes (10: about a tenth);
- Linux's SCHED_IDLE policy: the CPU only when no ordinary process wants it, and given up
  at once when one wakes, so a request never waits behind a job's work. Jobs then get
  whatever the requests leave, which on a machine shared with other busy services can be
  nothing for a while (a job then waits `pending`, then fails by its deadline).
"""

import logging
import os
from dataclasses import dataclass

log = logging.getLogger("paleon")


@dataclass(frozen=True)
class WorkPriority:
    niceness: int = 0
    idle: bool = False  # SCHED_IDLE, where the OS has it (Linux)

    def apply_here(self) -> None:
        """For a child process about to start (subprocess's preexec_fn, so nothing that
        logs): before it starts any thread, so all of them take it."""
        _set(self, [0])


def lower_priority(priority: WorkPriority) -> None:
    """Raise this process's niceness to `priority.niceness`, and put it under SCHED_IDLE when
    asked, every thread of it (never the other way: that needs privileges). On Linux both
    belong to a thread, and a new thread takes its creator's: `os.nice` in one thread left
    the event loop and the threads it starts (the decoding) at the old niceness."""
    current = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
    if current > priority.niceness > 0:
        # Ray's workers start at RAY_worker_niceness (15 by default): the replicas then run
        # as niced as this one, and nothing yields to them.
        log.warning("already at niceness %d, above the %d asked for: set "
                    "RAY_worker_niceness=0 for the replicas to run first", current,
                    priority.niceness)
    _set(priority, _threads())
    if priority.niceness > 0 or priority.idle:
        log.info("running at niceness %d%s", max(current, priority.niceness),
                 " under SCHED_IDLE (only on CPU time that requests leave)"
                 if priority.idle else "")


def _set(priority: WorkPriority, threads: list[int]) -> None:
    for tid in threads:
        try:
            if priority.niceness > 0 and os.getpriority(os.PRIO_PROCESS, tid) < priority.niceness:
                os.setpriority(os.PRIO_PROCESS, tid, priority.niceness)
            if priority.idle and hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # a thread that ended meanwhile
            continue


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # no procfs: the process as the OS defines it
        return [0]
