import pytest

from tether.recovery import Mode, decide


@pytest.mark.parametrize(
    ("after_seq", "head", "max_resume", "mode"),
    [
        (None, 0, 1000, Mode.RECENT),
        (None, 57, 1000, Mode.RECENT),
        (0, 0, 1000, Mode.RESUME),  # nothing happened yet: an empty resume
        (5, 5, 1000, Mode.RESUME),  # up to date
        (3, 5, 1000, Mode.RESUME),
        (0, 1000, 1000, Mode.RESUME),  # exactly max_resume changes since
        (0, 1001, 1000, Mode.RESET),  # one more than max_resume
        (6, 5, 1000, Mode.RESET),  # ahead of the head: another history
        (10, 0, 1000, Mode.RESET),
    ],
)
def test_decide(after_seq: int | None, head: int, max_resume: int, mode: Mode) -> None:
    assert decide(after_seq, head, max_resume) is mode
    # A client sending the session's own epoch is judged on its seq exactly the same way.
    assert decide(after_seq, head, max_resume, client_epoch="e1", epoch="e1") is mode


@pytest.mark.parametrize(
    ("after_seq", "head", "client_epoch", "mode"),
    [
        # A restored database that has grown past the client's last_seq: the seqs line up,
        # only the epoch tells the histories apart.
        (5, 9, "before", Mode.RESET),
        (5, 5, "before", Mode.RESET),
        (0, 0, "before", Mode.RESET),
        (6, 5, "before", Mode.RESET),  # ahead and another epoch: a reset either way
        (5, 9, None, Mode.RESUME),  # an older client sends no epoch: as before epochs
        (None, 9, "before", Mode.RECENT),  # nothing to continue: the epoch does not matter
    ],
)
def test_decide_with_epochs(
    after_seq: int | None, head: int, client_epoch: str | None, mode: Mode
) -> None:
    assert decide(after_seq, head, 1000, client_epoch=client_epoch, epoch="now") is mode
