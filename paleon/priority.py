"""Process priority: the heavy work of a job yields the CPU to requests."""

import logging
import os

log = logging.getLogger("paleon")


def lower_priority(niceness: int) -> None:
    """Raise this process's niceness to `niceness` (never lower it: that needs privileges)."""
    if niceness <= 0 or not hasattr(os, "nice"):
        return
    current = os.nice(0)
    if current < niceness:
        os.nice(niceness - current)
        log.info("running at niceness %d", niceness)
    elif current > niceness:
        # Ray's workers start at RAY_worker_niceness (15 by default): the replicas then run
        # as niced as this one, and nothing yields to them.
        log.warning("already at niceness %d, above the %d asked for: set "
                    "RAY_worker_niceness=0 for the replicas to run first", current, niceness)
