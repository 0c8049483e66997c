"""Answers with a JSON report of what it was given, and moves the conversation state on.

The state it reports on stderr is "conv-<n>", one more than the state it received.
"""

import json
import os
import sys

stdin = sys.stdin.read()
state = os.environ.get("TETHER_STATE")
print("a diagnostic line that is not state", file=sys.stderr)
count = int(state.split("-")[1]) if state else 0
print(f"TETHER_STATE=conv-{count + 1}", file=sys.stderr)
report = {
    "stdin": stdin,
    "state": state,
    "session": os.environ.get("TETHER_SESSION_ID"),
    "agent": os.environ.get("TETHER_AGENT"),
    "extra": os.environ.get("EXTRA"),
    "secret": os.environ.get("SERVER_SECRET"),
    "cwd": os.getcwd(),
}
sys.stdout.write(json.dumps(report))
