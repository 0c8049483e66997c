"""Streams an answer in two parts: the second only once the test has seen the first.

argv[1] is a marker file the test creates after receiving the first part, which proves the
first part reached the agent's consumer while this program was still running.
"""

import os
import sys
import time

marker = sys.argv[1]
out = sys.stdout.buffer
out.write(b"first ")
out.flush()
deadline = time.monotonic() + 10
while not os.path.exists(marker):
    if time.monotonic() > deadline:
        sys.exit("the marker never appeared")
    time.sleep(0.01)
# "café" with its two-byte "é" split across two writes.
out.write(b"then caf\xc3")
out.flush()
time.sleep(0.05)
out.write(b"\xa9")
out.flush()
