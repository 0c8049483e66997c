import pytest

from tether import protocol as p
from tether.protocol import ErrorCode, Event, RequestError, parse_request


def invalid(event: str, payload: object) -> str:
    with pytest.raises(RequestError) as caught:
        parse_request(event, payload)
    assert caught.value.code == ErrorCode.INVALID
    return caught.value.message


@pytest.mark.parametrize("payload", [None, [], "x", 3, True])
def test_non_object_payloads_are_invalid(payload: object) -> None:
    assert "must be an object" in invalid(Event.SUBSCRIBE, payload)


def test_heartbeat_accepts_no_payload() -> None:
    assert isinstance(parse_request(Event.HEARTBEAT, None), p.Heartbeat)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "session_id"),
        ({"session_id": 5}, "session_id"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": "x" * 65}, "session_id"),
        ({"session_id": "s", "after_seq": "3"}, "after_seq"),  # strict: no string numbers
        ({"session_id": "s", "after_seq": -1}, "after_seq"),
        ({"session_id": "s", "after_seq": 1.5}, "after_seq"),
        ({"session_id": "s", "after_seq": True}, "after_seq"),
        ({"session_id": "s", "limit": 0}, "limit"),
        ({"session_id": "s", "limit": 201}, "limit"),
        ({"session_id": "s", "after_seq": 3, "epoch": 7}, "epoch"),  # an opaque string
        ({"session_id": "s", "after_seq": 3, "epoch": ""}, "epoch"),
        ({"session_id": "s", "after_seq": 3, "epoch": "e" * 65}, "epoch"),
    ],
)
def test_subscribe_validation(payload: dict[str, object], field: str) -> None:
    assert invalid(Event.SUBSCRIBE, payload).startswith(field)


def test_subscribe_defaults_and_ignores_unknown_fields() -> None:
    req = parse_request(Event.SUBSCRIBE, {"session_id": "s", "future": 1})
    assert isinstance(req, p.Subscribe)
    assert req.after_seq is None and req.limit is None and req.epoch is None
    req = parse_request(Event.SUBSCRIBE, {"session_id": "s", "after_seq": 4, "epoch": "ab12"})
    assert isinstance(req, p.Subscribe)
    assert (req.after_seq, req.epoch) == (4, "ab12")


def test_message_statuses_are_the_contracts_strings() -> None:
    assert [s.value for s in p.MessageStatus] == [
        "complete", "streaming", "cancelled", "failed", "interrupted"
    ]
    # A status read from the database is a plain str: it must compare equal to its member.
    assert "streaming" == p.MessageStatus.STREAMING and str(p.MessageStatus.FAILED) == "failed"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"session_id": "s", "content": "hi"}, "client_msg_id"),
        ({"session_id": "s", "client_msg_id": "", "content": "hi"}, "client_msg_id"),
        ({"session_id": "s", "client_msg_id": "x" * 65, "content": "hi"}, "client_msg_id"),
        ({"session_id": "s", "client_msg_id": "c", "content": ""}, "content"),
        ({"session_id": "s", "client_msg_id": "c", "content": 5}, "content"),
        ({"session_id": "s", "client_msg_id": "c"}, "content"),
    ],
)
def test_send_validation(payload: dict[str, object], field: str) -> None:
    assert invalid(Event.SEND, payload).startswith(field)


def test_create_session_id_must_be_uuid() -> None:
    assert "UUID" in invalid(Event.CREATE_SESSION, {"id": "not-a-uuid"})
    req = parse_request(Event.CREATE_SESSION, {"id": "6F9619FF-8B86-D011-B42D-00C04FC964FF"})
    assert isinstance(req, p.CreateSession)
    assert req.id == "6f9619ff-8b86-d011-b42d-00c04fc964ff"


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [
        (Event.LIST_SESSIONS, {"limit": 0}, "limit"),
        (Event.LIST_SESSIONS, {"before": "yesterday"}, "before"),
        (Event.UPDATE_SESSION, {"session_id": "s", "archived": "yes"}, "archived"),
        (Event.UPDATE_SESSION, {"session_id": "s", "title": "t" * 201}, "title"),
        (Event.HISTORY, {"session_id": "s"}, "before_position"),
        (Event.HISTORY, {"session_id": "s", "before_position": -2}, "before_position"),
        (Event.CANCEL, {"session_id": None}, "session_id"),
    ],
)
def test_other_validation(event: str, payload: dict[str, object], field: str) -> None:
    assert invalid(event, payload).startswith(field)


def test_error_ack_shape() -> None:
    ack = RequestError(ErrorCode.NOT_FOUND, "no such session").ack()
    assert ack == {"ok": False, "error": {"code": "not_found", "message": "no such session"}}


def test_every_request_has_a_model() -> None:
    assert set(p.REQUEST_MODELS) == set(p.REQUEST_EVENTS)


def test_every_event_is_either_sent_by_the_server_or_a_request() -> None:
    names = {v for k, v in vars(p.Event).items() if k.isupper()}
    assert set(p.SERVER_EVENTS) | set(p.REQUEST_EVENTS) == names
    assert not set(p.SERVER_EVENTS) & set(p.REQUEST_EVENTS)
