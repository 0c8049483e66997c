from tether import jsoncodec
from tether.ratelimit import TokenBucket
from tether.settings import Settings
from tether.streams import LiveStream


def test_token_bucket_allows_burst_then_refills() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.49) is False  # 0.98 tokens refilled
    assert bucket.take(0.5) is True
    assert bucket.take(100.0) and bucket.take(100.0) and bucket.take(100.0)
    assert bucket.take(100.0) is False  # never more than the burst


def test_live_stream_chunks_take_pending_text_in_order() -> None:
    stream = LiveStream("s", "m")
    assert stream.take_chunk() is None
    stream.add_text("Echo: ")
    stream.add_text("a ")
    assert stream.take_chunk() == (0, "Echo: a ", [
        {"op": "start", "part": {"id": "t0", "type": "text", "text": ""}},
        {"op": "append", "id": "t0", "field": "text", "value": "Echo: a "},
    ])
    stream.add_text("b")
    assert stream.take_chunk() == (1, "b", [
        {"op": "append", "id": "t0", "field": "text", "value": "b"}
    ])
    assert (stream.text, stream.chunks, stream.pending) == ("Echo: a b", 2, [])
    assert stream.parts == [{"id": "t0", "type": "text", "text": "Echo: a b"}]


def test_json_codec_round_trip_is_compact_text() -> None:
    data = {"a": [1, "é", None], "b": {"c": True}}
    encoded = jsoncodec.dumps(data, separators=(",", ":"))
    assert isinstance(encoded, str) and " " not in encoded
    assert jsoncodec.loads(encoded) == data


def test_loopback_detection() -> None:
    assert Settings(host="127.0.0.1").is_loopback
    assert Settings(host="::1").is_loopback
    assert Settings(host="localhost").is_loopback
    assert not Settings(host="0.0.0.0").is_loopback
    assert not Settings(host="192.0.2.1").is_loopback


def test_text_then_an_event_in_one_chunk_keeps_their_order() -> None:
    from tether.agents import events as ev

    stream = LiveStream("s", "m")
    stream.add_text("Let me check. ")
    stream.add_event(ev.ToolCall("c1", "search"))
    stream.add_text("Done.")
    chunk, text, ops = stream.take_chunk() or (None, None, None)
    assert (chunk, text) == (0, "Let me check. Done.")
    assert [(o["op"], o.get("id") or o["part"]["id"]) for o in ops or []] == [
        ("start", "t0"), ("append", "t0"), ("start", "k1"), ("start", "t2"), ("append", "t2"),
    ]
    assert [p["type"] for p in stream.parts] == ["text", "tool", "text"]
    assert stream.text == "Let me check. Done."


def test_a_connection_closed_mid_operation_during_a_cut_is_unavailable() -> None:
    """asyncpg's "connection was closed in the middle of operation", wrapped by SQLAlchemy while
    a new connection is opened during a PostgreSQL cut, is the database being away, not a bug
    (it used to answer ``internal``)."""
    from asyncpg.exceptions import ConnectionDoesNotExistError
    from sqlalchemy.exc import DBAPIError

    from tether.store import is_unavailable

    cause = ConnectionDoesNotExistError("connection was closed in the middle of operation")
    orig = RuntimeError("driver error")
    orig.__cause__ = cause
    wrapped = DBAPIError("SELECT 1", None, orig)
    assert not wrapped.connection_invalidated
    assert is_unavailable(wrapped)
    assert is_unavailable(DBAPIError("SELECT 1", None, cause))  # type: ignore[arg-type]
    assert not is_unavailable(DBAPIError("SELECT 1", None, ValueError("bad data")))  # type: ignore[arg-type]
