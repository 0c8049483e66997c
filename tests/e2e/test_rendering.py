"""Answers on screen: a long markdown answer is rendered incrementally (finished blocks are never
rendered again) and the same after a reload; a structured answer (reasoning, tool calls, status)
renders, and is identical after a reload, in a second tab and after a frozen-page recovery.

The answers come from a ``kind = "python"`` agent written into the server's data directory; it
runs in the test's own process, so the test holds it at a gate mid-answer."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, PROXIED_HOSTS
from tests.e2e.pages import CONNECTED, assert_each_once, open_app, send_from_page, set_visibility
from tests.support.inprocess import InProcessServer, serve_in_process
from tests.support.proxy import FaultProxy
from tests.support.wait import until

AGENT = '''
import asyncio

gates = {}  # prompt -> asyncio.Event: the answer waits there mid-way until the test sets it

BLOCKS = [
    "# A long answer",
    "The first paragraph has **bold** text and `code` in it, written word by word.",
    "- one item\\n- another item",
    "```python\\nprint('a fenced block')\\n```",
] + [f"Paragraph {n}: the quick brown fox jumps over the lazy dog." for n in range(1, 25)]


def gate(prompt):
    return gates.setdefault(prompt, asyncio.Event())


async def answer(turn):
    if turn.prompt.startswith("structured"):
        from tether.agents import events as e
        yield e.Status("thinking…")
        yield e.Reasoning("The user asks about the weather, ")
        yield e.Reasoning("so I call the weather tool.")
        yield e.ToolCall("call_1", "weather")
        yield e.ToolInput("call_1", '{"city": ')
        await gate(turn.prompt).wait()
        yield e.ToolInput("call_1", '"Paris"}')
        yield e.ToolInputDone("call_1", {"city": "Paris"})
        yield e.ToolOutput("call_1", {"celsius": 21})
        yield e.ToolCall("call_2", "forecast")
        yield e.ToolInputDone("call_2", {"city": "Paris", "days": 2})
        yield e.ToolError("call_2", "the forecast service is down")
        yield e.Status("writing…")
        yield "It is **21 °C** in Paris"
        yield " today."
        return
    for block in BLOCKS:
        for word in block.split(" "):
            yield word + " "
            await asyncio.sleep(0.004)
        yield "\\n\\n"
        if block.startswith("Paragraph 12"):
            await gate(turn.prompt).wait()
'''

# The answer as the page shows it: each part's kind, state and text, and the status line.
READ_ANSWER = """() => [...document.querySelectorAll('[data-testid=message][data-role=assistant]')]
.map(el => ({
  status: el.dataset.status,
  parts: [...el.querySelectorAll('.body > .part')].map(p => ({
    kind: p.className, state: p.dataset.state ?? null, open: p.open ?? null, text: p.textContent,
    spinning: !!p.querySelector('.spinner:not([hidden])'),
  })),
  line: el.querySelector('[data-testid=status-line]').hidden ? null
        : el.querySelector('[data-testid=status-line]').textContent,
  html: el.querySelector('.body').innerHTML,
}))"""


@pytest.fixture
async def agent_server(tmp_path: Path) -> AsyncIterator[tuple[InProcessServer, Any]]:
    """A server whose default agent is the module above (a unique name: the module is imported
    into this process, and every test gets a fresh one)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    module = f"answers_agent_{uuid.uuid4().hex}"
    (data_dir / f"{module}.py").write_text(AGENT)
    (data_dir / "agents.toml").write_text(
        textwrap.dedent(f"""
            [agents.answers]
            kind = "python"
            entrypoint = "{module}:answer"
        """)
    )
    async with serve_in_process(data_dir, agent="answers", allowed_hosts=PROXIED_HOSTS) as server:
        yield server, sys.modules[module]
    sys.modules.pop(module, None)


async def answer_on(page: Any) -> dict[str, Any]:
    answers = await page.evaluate(READ_ANSWER)
    assert len(answers) == 1, answers
    return answers[0]  # type: ignore[no-any-return]


async def new_chat(page: Any, url: str) -> str:
    await open_app(page, url)
    await page.click("[data-testid=new-session]")
    await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
    return str(await page.evaluate("location.hash.slice(4)"))


async def test_a_long_answer_renders_incrementally_and_the_same_after_a_reload(
    browser: Any, agent_server: tuple[InProcessServer, Any]
) -> None:
    server, agent = agent_server
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await new_chat(page, server.url)
    await send_from_page(page, "long")
    answer = "[data-testid=message][data-role=assistant]"
    # Held at the gate after paragraph 12: the heading, the list and the code block are finished.
    finished = f"[...document.querySelectorAll('{answer} .body :is(h1, ul, pre)')]"
    await page.wait_for_function(
        f"() => {finished}.length === 3 && "
        f"document.querySelector('{answer} .body').textContent.includes('Paragraph 12')",
        polling=10, timeout=15_000,
    )
    # Mark their elements: rendering them again would replace them.
    await page.evaluate(f"{finished}.forEach(el => {{ el.__kept = true; }})")
    agent.gate("long").set()
    await page.wait_for_selector(f"{answer}[data-status=complete]", timeout=30_000)
    kept = await page.evaluate(f"{finished}.filter(el => el.__kept).length")
    assert kept == 3, "finished blocks were rendered again while the answer streamed"
    streamed = await answer_on(page)
    assert "Paragraph 24" in streamed["html"]
    assert await page.locator(f"{answer} .body h1").count() == 1
    assert await page.locator(f"{answer} .body li").count() == 2
    assert await page.locator(f"{answer} .body pre code").count() == 1
    assert await page.locator(f"{answer} .body strong").text_content() == "bold"
    # The finished blocks sit in runs of 16 (markdownstream.js): this answer fills more than one.
    runs = await page.evaluate(
        f"[...document.querySelectorAll('{answer} .md-done > .md-run')]"
        ".map(r => r.childElementCount)")
    assert len(runs) >= 2 and runs[0] == 16, runs

    await page.reload()
    await page.wait_for_selector(CONNECTED, timeout=15_000)
    await page.wait_for_selector(f"{answer}[data-status=complete]", timeout=15_000)
    assert await answer_on(page) == streamed, "the reloaded page shows the answer as streamed"
    await context.close()


def shown_parts(answer: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(p["kind"], p["state"], p["text"]) for p in answer["parts"]]


async def test_a_structured_answer_is_the_same_after_reload_in_a_second_tab_and_after_recovery(
    browser: Any, agent_server: tuple[InProcessServer, Any]
) -> None:
    pytest.importorskip("tether.agents.events", reason="the server side of structured answers")
    server, agent = agent_server
    proxy = await FaultProxy("127.0.0.1", server.port).start()
    try:
        context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = await context.new_page()
        await open_app(page, proxy.url)
        await page.click("#menu")
        await page.click("[data-testid=new-session]")
        await page.wait_for_function("() => location.hash.startsWith('#/s/')", timeout=10_000)
        session_id = str(await page.evaluate("location.hash.slice(4)"))
        await send_from_page(page, "structured weather")
        tool = "[data-testid=message][data-role=assistant] [data-testid=part-tool]"
        await page.wait_for_function(
            f"() => document.querySelector('{tool}')?.textContent.includes('city')",
            polling=10, timeout=15_000,
        )

        # Mid-answer: reasoning done and folded, the first tool's input streaming with a spinner,
        # the status line under the answer.
        mid = await answer_on(page)
        assert mid["status"] == "streaming"
        assert [(p["kind"], p["state"]) for p in mid["parts"]] == [
            ("part part-reasoning", "done"), ("part part-tool", "input-streaming"),
        ]
        reasoning, call = mid["parts"]
        assert reasoning["open"] is False
        assert "so I call the weather tool." in reasoning["text"]
        assert call["spinning"] and "weather" in call["text"] and '{"city":' in call["text"]
        assert mid["line"] == "thinking…"

        # The same after a reload and in a second tab, mid-answer.
        second = await context.new_page()
        await open_app(second, proxy.url, session_id)
        await until_same(second, mid)
        await page.reload()
        await page.wait_for_selector(CONNECTED, timeout=15_000)
        await until_same(page, mid)

        # The page freezes with its connection silently dropped; the answer ends meanwhile.
        await set_visibility(page, "hidden")
        cdp = await context.new_cdp_session(page)
        await cdp.send("Debugger.enable")
        await cdp.send("Debugger.pause")
        assert proxy.drop_all() >= 1
        away_since = time.monotonic()
        agent.gate("structured weather").set()
        # Watched from another browser (tabs of one context may share the frozen renderer).
        elsewhere = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        watcher = await elsewhere.new_page()
        await open_app(watcher, server.url, session_id)
        ended = "[data-testid=message][data-role=assistant]:not([data-status=streaming])"
        await watcher.wait_for_selector(ended, timeout=15_000)
        final = await answer_on(watcher)
        assert final["status"] == "complete", final
        # Away 5 s, as recovery scenario 1 (test_recovery.py): the absence is the scenario.
        await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - away_since)))
        await cdp.send("Debugger.resume")
        await set_visibility(page, "visible")
        await until_same(page, final, timeout=20)
        await page.wait_for_selector(CONNECTED, timeout=10_000)
        # The second tab was never hidden nor frozen, its socket silent all the same: it learns
        # from the first tab that the network dropped (client/tabs.js), not 30 s of silence later.
        await until_same(second, final)
        assert_each_once(await page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=message]')]"
            ".map(el => ({id: el.dataset.messageId}))"
        ))

        assert shown_parts(final)[:3] == [
            ("part part-reasoning", "done", final["parts"][0]["text"]),
            ("part part-tool", "output-available", final["parts"][1]["text"]),
            ("part part-tool", "output-error", final["parts"][2]["text"]),
        ]
        assert [p["kind"] for p in final["parts"]] == [
            "part part-reasoning", "part part-tool", "part part-tool", "part part-text",
        ]
        assert not any(p["spinning"] for p in final["parts"])
        assert '"celsius": 21' in final["parts"][1]["text"]
        assert "the forecast service is down" in final["parts"][2]["text"]
        assert final["parts"][3]["text"].strip() == "It is 21 °C in Paris today."
        assert "<strong>21 °C</strong>" in final["html"]
        assert final["line"] is None, "the status line is gone once the answer ends"

        # And a fresh page shows exactly the same.
        fresh = await context.new_page()
        await open_app(fresh, server.url, session_id)
        await until_same(fresh, final)
        await context.close()
        await elsewhere.close()
    finally:
        await proxy.close()


async def until_same(page: Any, expected: dict[str, Any], timeout: float = 15) -> None:
    """Wait until ``page`` shows the answer exactly as ``expected`` (what another page showed)."""
    last: list[Any] = []

    async def same() -> bool:
        last[:] = await page.evaluate(READ_ANSWER)
        return last == [expected]

    try:
        await until(same, timeout, "the same answer on both pages")
    except AssertionError:
        state = await page.evaluate("window.tether.diagnostics()")
        raise AssertionError(f"expected {expected}, shown {last}; client {state}") from None


# The answer view on its own, in the app's page (its modules, its CSP, its stylesheet), fed the
# parts of an answer step by step as client/parts.js builds them from a delta's ops.
PARTS_VIEW = """async (steps) => {
  const { PartsView } = await import("/static/js/app/parts.js");
  const { applyOps } = await import("/static/js/client/parts.js");
  const body = document.createElement("div");
  const line = document.createElement("div");
  document.querySelector(".messages").append(body, line);
  const view = new PartsView(body, line);
  let parts = [];
  const seen = [];
  for (const step of steps) {
    if (step.click) body.querySelector(step.click).click();
    else parts = applyOps(parts, step);
    view.render(parts);
    await new Promise((resolve) => setTimeout(resolve, 20)); // let toggle events arrive
    seen.push({
      parts: [...body.children].map((p) => ({
        kind: p.className, state: p.dataset.state ?? null, open: p.open ?? null,
        text: p.textContent,
        spinning: !!p.querySelector(".spinner:not([hidden])"),
        markup: p.querySelectorAll(".tool-input *, .tool-output *, .reasoning-text *").length,
      })),
      line: line.hidden ? null : line.textContent,
    });
  }
  return seen;
}"""

TOOL = {"id": "k1", "type": "tool", "tool_call_id": "c1", "name": "search",
        "state": "input-streaming", "input_text": "", "input": None, "output": None, "error": None}


async def test_the_answer_view_shows_reasoning_tool_cards_and_the_status_line(
    browser: Any, server: InProcessServer
) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    await open_app(page, server.url)
    evil = '<img src=x onerror="window.__pwned=1">'
    seen = await page.evaluate(PARTS_VIEW, [
        [{"op": "start", "part": {"id": "st", "type": "status", "text": "thinking…"}},
         {"op": "start",
          "part": {"id": "r0", "type": "reasoning", "text": "Hm, ", "state": "streaming"}}],
        [{"op": "append", "id": "r0", "field": "text", "value": "search. " + evil}],
        [{"op": "set", "id": "r0", "fields": {"state": "done"}}, {"op": "start", "part": TOOL},
         {"op": "append", "id": "k1", "field": "input_text", "value": '{"q": "' + evil}],
        [{"op": "set", "id": "k1", "fields": {"state": "input-available", "input": {"q": evil}}},
         {"op": "set", "id": "st", "fields": {"text": "searching…"}}],
        [{"op": "set", "id": "k1", "fields": {"state": "output-available", "output": evil}}],
        {"click": ".part-reasoning > summary"},
        [{"op": "start", "part": {"id": "t1", "type": "text", "text": "**Done**"}},
         {"op": "remove", "id": "st"}],
    ])
    kinds = [[p["kind"] for p in step["parts"]] for step in seen]
    assert kinds[0] == ["part part-reasoning"]
    assert kinds[-1] == ["part part-reasoning", "part part-tool", "part part-text"]
    reasoning = [step["parts"][0] for step in seen]
    assert [r["open"] for r in reasoning] == [True, True, False, False, False, True, True], (
        "open while thinking, folded when done, then as the reader left it")
    assert reasoning[1]["text"].endswith("search. " + evil)
    tool = [step["parts"][1] for step in seen[2:]]
    assert [(t["state"], t["spinning"]) for t in tool] == [
        ("input-streaming", True), ("input-available", True), ("output-available", False),
        ("output-available", False), ("output-available", False),
    ]
    assert '{"q": "' + evil in tool[0]["text"] and "search" in tool[0]["text"]
    assert evil in tool[2]["text"]
    assert all(p["markup"] == 0 for step in seen for p in step["parts"]), "shown as text only"
    assert await page.evaluate("window.__pwned") is None
    assert [step["line"] for step in seen] == [
        "thinking…", "thinking…", "thinking…", "searching…", "searching…", "searching…", None,
    ]
    assert seen[-1]["parts"][2]["text"].strip() == "Done"
    await page.close()
