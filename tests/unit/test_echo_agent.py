from tether.agents import ChatMessage, Turn
from tether.agents.echo import EchoAgent


async def test_echo_streams_word_by_word_and_keeps_white_space() -> None:
    turn = Turn("s", [ChatMessage("user", "first"), ChatMessage("user", "two  words\nhere ")])
    chunks = [c async for c in EchoAgent(delay=0).stream(turn)]
    assert chunks == ["Echo: ", "two  ", "words\n", "here "]
    assert "".join(chunks) == "Echo: two  words\nhere "
