"""The fault test's agent (a command agent, ``stdin = "text"``): answers ``Re: <question>``,
one word every ``FAULT_AGENT_DELAY`` seconds, so faults land in the middle of answers."""

import os
import sys
import time

delay = float(os.environ.get("FAULT_AGENT_DELAY", "0.08"))
words = ["Re:", *sys.stdin.read().split()]
for i, word in enumerate(words):
    sys.stdout.write(("" if i == 0 else " ") + word)
    sys.stdout.flush()
    time.sleep(delay)
