"""The job workers' niceness reaches every thread of their process (Linux keeps one per
thread), not only the thread that asked."""

import subprocess
import sys

SCRIPT = """
import os, threading
from paleon.priority import WorkPriority, lower_priority
started, done = threading.Event(), threading.Event()
seen = {}
def other():
    seen["tid"] = threading.get_native_id()
    started.set()
    done.wait()
thread = threading.Thread(target=other)
thread.start()
started.wait()
lower_priority(WorkPriority(7))
later = {}
worker = threading.Thread(target=lambda: later.update(n=os.getpriority(os.PRIO_PROCESS, 0)))
worker.start(); worker.join()
print(os.getpriority(os.PRIO_PROCESS, 0), os.getpriority(os.PRIO_PROCESS, seen["tid"]),
      later["n"])
done.set()
"""


def test_every_thread_and_every_later_one_is_niced():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["7", "7", "7"]


IDLE_SCRIPT = """
import os, threading
from paleon.priority import WorkPriority, lower_priority
lower_priority(WorkPriority(niceness=3, idle=True))
later = {}
def probe():
    later["policy"] = os.sched_getscheduler(0)
worker = threading.Thread(target=probe)
worker.start(); worker.join()
print(os.sched_getscheduler(0) == os.SCHED_IDLE, later["policy"] == os.SCHED_IDLE,
      os.getpriority(os.PRIO_PROCESS, 0))
"""


def test_idle_scheduling_reaches_later_threads_too():
    out = subprocess.run([sys.executable, "-c", IDLE_SCRIPT], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["True", "True", "3"]


def test_a_child_process_starts_at_the_work_priority():
    from paleon.priority import WorkPriority

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.sched_getscheduler(0) == os.SCHED_IDLE, "
                               "os.getpriority(os.PRIO_PROCESS, 0))"],
        preexec_fn=WorkPriority(niceness=4, idle=True).apply_here,  # noqa: PLW1509
        capture_output=True, text=True, check=True, timeout=60)
    assert child.stdout.split() == ["True", "4"]
