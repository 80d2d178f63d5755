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
