"""Run claims: which node answers a session, until when; index answers by the question.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("runner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("runner_lease", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_sessions_runner", "sessions", ["runner"])
    op.create_index("ix_messages_reply_to", "messages", ["reply_to"])


def downgrade() -> None:
    op.drop_index("ix_messages_reply_to", "messages")
    op.drop_index("ix_sessions_runner", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("runner_lease")
        batch.drop_column("runner")
