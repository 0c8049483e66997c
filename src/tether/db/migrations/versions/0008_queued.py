"""A user message waiting for its answer is marked ``queued``, under a partial index: the
queue's next question is one index lookup instead of a scan of the session's messages.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: What ``queued`` means, as the queue was read before it: a user message that awaits an
#: answer, with none answering it yet or a retry asking for another.
_WAITING = """
    role = 'user' AND awaits_answer
    AND (answer_again OR NOT EXISTS (
        SELECT 1 FROM messages AS answers WHERE answers.reply_to = messages.id
    ))
"""


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("queued", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(f"UPDATE messages SET queued = {_true()} WHERE {_WAITING}")
    op.create_index(
        "ix_messages_queued", "messages", ["session_id", "position"],
        sqlite_where=sa.text("queued = 1"), postgresql_where=sa.text("queued"),
    )


def _true() -> str:
    return "1" if op.get_bind().dialect.name == "sqlite" else "true"


def downgrade() -> None:
    op.drop_index("ix_messages_queued", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("queued")
