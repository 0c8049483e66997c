"""A chat is named from its first message (issue 15, item 6), on the server, so every socket of
the user hears the name; a title the user gave is kept."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.client import Client


async def test_first_message_names_a_default_titled_chat_for_every_tab(
    clients: Callable[..., Client],
) -> None:
    tab, other_tab = clients(), clients()
    await tab.connect()
    await other_tab.connect()
    sid = await tab.new_session()
    await tab.send(sid, "\nPlan a   trip to Lisbon\nwith details on a second line")

    def named(client: Client) -> list[str]:
        return [e["session"]["title"] for e in client.of("session") if e["session"]["id"] == sid]

    await other_tab.wait_for(lambda: "Plan a trip to Lisbon" in named(other_tab), what="name")
    await tab.send(sid, "a second message renames nothing")  # named, if at all, before its ack
    listed = {s["id"]: s["title"] for s in (await tab.ok("list_sessions", {}))["sessions"]}
    assert listed[sid] == "Plan a trip to Lisbon"


async def test_a_title_the_user_gave_is_kept(client: Client) -> None:
    sid = await client.new_session(title="My own name")
    await client.ok("subscribe", {"session_id": sid})
    await client.send(sid, "first message")
    await client.wait_status(sid, "complete")
    listed = {s["id"]: s["title"] for s in (await client.ok("list_sessions", {}))["sessions"]}
    assert listed[sid] == "My own name"
