"""What must hold once every fault has healed, read straight from PostgreSQL (not through the
proxy) and from each client's view. Each check returns the problems it found, in words."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select

from tests.cluster.faults.clients import FaultClient
from tether.db.schema import sessions
from tether.store import MessageRow, Store

FINAL = {"complete", "interrupted", "cancelled", "failed"}
#: The fields a client's copy of a message must share with the stored one.
COMPARED = ("seq", "position", "role", "status", "content", "error", "reply_to", "client_msg_id")


async def stored(store: Store, session_ids: Iterable[str]) -> dict[str, list[MessageRow]]:
    """Every message of each session, by position."""
    return {sid: await store.changed_since(sid, 0) for sid in session_ids}


async def leftovers(store: Store, session_ids: list[str]) -> list[str]:
    """What is not settled yet: answers streaming, questions waiting, sessions running or
    claimed."""
    found: list[str] = []
    for sid, rows in (await stored(store, session_ids)).items():
        found += [f"message {m['id']} of {sid} is streaming ({len(m['content'])} chars)"
                  for m in rows if m["status"] == "streaming"]
        if (waiting := await store.next_unanswered(sid)) is not None:
            found.append(f"question {waiting['content']!r} of {sid} has no answer")
    async with store.engine.connect() as conn:
        claims = (await conn.execute(
            select(sessions.c.id, sessions.c.running, sessions.c.runner)
            .where(sessions.c.id.in_(session_ids))
        )).all()
    found += [f"session {r.id} is running={r.running} claimed by {r.runner} with nothing to do"
              for r in claims if r.running or r.runner is not None]
    return found


async def settle(store: Store, session_ids: list[str], timeout: float) -> list[str]:
    """Wait until nothing is left (see :func:`leftovers`); what is still left after
    ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := await leftovers(store, session_ids)) and time.monotonic() < deadline:  # noqa: ASYNC110 - the database is polled
        await asyncio.sleep(0.5)
    return left


def expected_answer(question: str) -> str:
    return "Re: " + " ".join(question.split())


async def check_store(
    store: Store, session_ids: list[str], clients: list[FaultClient]
) -> tuple[list[str], Counter[str]]:
    """Every acknowledged send stored exactly once; every question answered exactly once, with
    a final status and the agent's text (a prefix of it when interrupted); seqs and positions
    unique and gap-free. The problems, and the answers counted by status."""
    problems: list[str] = []
    statuses: Counter[str] = Counter()
    everything = await stored(store, session_ids)
    acked: dict[tuple[str, str], str] = {}
    for c in clients:
        problems += c.problems
        problems += [f"{c.name}: {cmid} never acknowledged" for cmid, _ in c.outbox.pending]
        acked.update({(c.session_id, cmid): mid for cmid, mid in c.outbox.acked.items()})
    for sid, rows in everything.items():
        users = [m for m in rows if m["role"] == "user"]
        counts = Counter(m["client_msg_id"] for m in users)
        problems += [f"{cmid} stored {n} times in {sid}" for cmid, n in counts.items() if n > 1]
        for m in users:
            key = (sid, m["client_msg_id"])
            if key not in acked:
                problems.append(f"{m['client_msg_id']} stored in {sid} but never acknowledged")
            elif acked[key] != m["id"]:
                problems.append(f"{m['client_msg_id']} acknowledged as {acked[key]}, "
                                f"stored as {m['id']}")
        answers: dict[str, list[MessageRow]] = {}
        for m in rows:
            if m["role"] == "assistant":
                answers.setdefault(str(m["reply_to"]), []).append(m)
        for q in users:
            mine = answers.pop(q["id"], [])
            if len(mine) != 1:
                problems.append(f"question {q['content']!r} has {len(mine)} answers: "
                                f"{[(a['id'], a['status']) for a in mine]}")
            for a in mine:
                statuses[a["status"]] += 1
                want = expected_answer(q["content"])
                if a["status"] not in FINAL:
                    problems.append(f"answer {a['id']} is left {a['status']}")
                elif a["status"] == "failed":
                    problems.append(f"answer {a['id']} failed: {a['error']}")
                elif a["status"] == "complete" and a["content"] != want:
                    problems.append(f"answer {a['id']} is {a['content']!r}, not {want!r}")
                elif not want.startswith(a["content"]):
                    problems.append(f"answer {a['id']} ({a['status']}) has text "
                                    f"{a['content']!r} that is not a prefix of {want!r}")
        problems += [f"answer {a['id']} answers no question of {sid}"
                     for extra in answers.values() for a in extra]
        seqs = sorted(m["seq"] for m in rows)
        head = await store.head_seq(sid)
        if len(set(seqs)) != len(seqs) or (seqs and seqs[-1] != head):
            problems.append(f"session {sid}: seqs {seqs[-5:]} do not end at head {head} uniquely")
        positions = sorted(m["position"] for m in rows)
        if positions != list(range(1, len(rows) + 1)):
            problems.append(f"session {sid}: positions are not 1..{len(rows)}")
    return problems, statuses


def differences(client: FaultClient, fresh: list[MessageRow]) -> list[str]:
    """How a client's view differs from a fresh read of its session."""
    view = client.snapshot()
    mine = view.messages
    theirs = {m["id"]: m for m in fresh}
    out = [f"{client.name} lacks {mid} ({m['status']})" for mid, m in theirs.items()
           if mid not in mine]
    out += [f"{client.name} has {mid}, which is not stored" for mid in mine if mid not in theirs]
    for mid, m in theirs.items():
        if mid in mine:
            ours = {k: mine[mid].get(k) for k in COMPARED}
            wanted = {k: m.get(k) for k in COMPARED}
            if ours != wanted:
                changed = {k: (ours[k], wanted[k]) for k in COMPARED if ours[k] != wanted[k]}
                out.append(f"{client.name}'s copy of {mid} differs (view, stored): {changed}")
    if view.last_seq != max((m["seq"] for m in fresh), default=0):
        out.append(f"{client.name} is at last_seq {view.last_seq}")
    if client.session is None or client.session["running"]:
        out.append(f"{client.name} sees its session as running: {client.session}")
    return out


async def check_views(
    store: Store, clients: list[FaultClient], live_wait: float
) -> tuple[list[str], int]:
    """Every client's view equals a fresh read of its session: first as the live events left
    it (waiting up to ``live_wait`` seconds), else after one more resume. The problems, and
    how many clients needed that resume (which a client also does when it reconnects)."""
    for c in clients:  # as a browser does, a client whose connection died connects again
        if not c.connected:
            await c.connect(time.monotonic() + 20)
    fresh = await stored(store, {c.session_id for c in clients})
    deadline = time.monotonic() + live_wait
    while time.monotonic() < deadline and any(  # noqa: ASYNC110 - views change in their own time
        differences(c, fresh[c.session_id]) for c in clients
    ):
        await asyncio.sleep(0.25)
    behind = [c for c in clients if differences(c, fresh[c.session_id])]
    problems: list[str] = []
    for c in behind:
        before = differences(c, fresh[c.session_id])
        try:
            await c.resume(time.monotonic() + 20)
        except Exception as exc:
            problems.append(f"{c.name} could not resume: {exc!r}")
            continue
        await asyncio.sleep(0.5)
        if after := differences(c, fresh[c.session_id]):
            problems += [f"after a resume: {d}" for d in after]
            problems += [f"  before it: {d}" for d in before[:3]]
    return problems, len(behind)
