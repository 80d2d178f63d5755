"""The job workers' niceness reaches every thread of their process (Linux keeps one per
thread), not only the thread that asked."""

import subprocess
import sys

SCRIPT = """
import os, threading
from paleon.priority import lower_priority
started, done = threading.Event(), threading.Event()
seen = {}
def other():
    seen["tid"] = threading.get_native_id()
    started.set()
    done.wait()
thread = threading.Thread(target=other)
thread.start()
started.wait()
lower_priority(7)
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
