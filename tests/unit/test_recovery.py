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
