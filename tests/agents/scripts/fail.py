"""Writes a long stderr and exits with the status in argv[1]."""

import sys

print("partial answer", flush=True)
for index in range(200):
    print(f"noise line {index}", file=sys.stderr)
print("fatal: model not found", file=sys.stderr)
sys.exit(int(sys.argv[1]))
