"""The randomized fault test's parts (tests/cluster/test_faults.py, docs/scaling.md):
``plan`` the seeded schedule of faults (pure), ``cluster`` three nodes with a private Redis and
PostgreSQL behind a proxy, ``clients`` protocol clients with a retrying outbox, ``checks`` the
invariants after healing."""
