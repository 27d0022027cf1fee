"""The worker pool: a task that kills or hangs its worker fails alone; the others still get answers."""

import sys

from bridge.workers import WorkerPool

WORKER = r"""
import json, os, signal, sys, time
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    task = line.strip()
    if task == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if task == "hang":
        time.sleep(60)
    print(json.dumps({"echo": task, "pid": os.getpid()}), flush=True)
"""


def test_crashes_and_hangs_fail_only_their_task():
    pool = WorkerPool(lambda n: [sys.executable, "-c", WORKER], jobs=2, timeout_s=2.0, handshake=True, recycle_after=3)
    answers, failures, retired = {}, {}, []
    tasks = ["a", "segfault", "b", "hang", "c", "d", "e", "f", "g"]
    pool.run(tasks, lambda t, msg, w: answers.__setitem__(t, msg), lambda t, kind, detail, w: failures.__setitem__(t, kind),
             on_retire=lambda w: retired.append(w.number))
    assert failures == {"segfault": "died", "hang": "hang"}
    assert sorted(answers) == ["a", "b", "c", "d", "e", "f", "g"]
    assert all(answers[t]["echo"] == t for t in answers)
    # crashed, hung and recycled workers were replaced; every worker started was retired
    assert len(retired) >= 4 and len(set(retired)) == len(retired)
