"""Starts a child and a grandchild, reports their pids on stdout, then hangs.

With argv[1] == "stubborn", the child ignores SIGTERM so only SIGKILL ends it.
Output: one JSON line {"pids": [self, child, grandchild]}, then nothing.
"""

import json
import os
import subprocess
import sys
import time

stubborn = sys.argv[1:] == ["stubborn"]
CHILD = f"""
import signal, subprocess, sys, time
if {stubborn}:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(grandchild.pid, flush=True)
time.sleep(60)
"""
child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
assert child.stdout is not None
grandchild = int(child.stdout.readline())
sys.stdout.write(json.dumps({"pids": [os.getpid(), child.pid, grandchild]}) + "\n")
sys.stdout.flush()
time.sleep(60)
