"""Process priority: the heavy work of a job yields the CPU to requests."""

import logging
import os

log = logging.getLogger("paleon")


def lower_priority(niceness: int) -> None:
    """Raise this process's niceness to `niceness`, every thread of it (never lower it: that
    needs privileges). On Linux a niceness belongs to a thread, and a new thread takes its
    creator's: `os.nice` in one thread left the event loop and the threads it starts (the
    decoding) at the old niceness."""
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current > niceness:
        # Ray's workers start at RAY_worker_niceness (15 by default): the replicas then run
        # as niced as this one, and nothing yields to them.
        log.warning("already at niceness %d, above the %d asked for: set "
                    "RAY_worker_niceness=0 for the replicas to run first", current, niceness)
        return
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # no procfs: the process as the OS defines it
        threads = [0]
    for tid in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except OSError:  # a thread that ended meanwhile
            continue
    log.info("running at niceness %d", niceness)
