"""Web Push: push subscriptions per user and device, and which tabs are watching a session.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _user_id() -> sa.Column[str]:
    return sa.Column(
        "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        _user_id(),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("endpoint_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(128), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("device", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_push_subscriptions_user", "push_subscriptions", ["user_id"])
    op.create_table(
        "push_presence",
        sa.Column("sid", sa.String(64), primary_key=True),
        _user_id(),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("visible_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_push_presence_user_session", "push_presence", ["user_id", "session_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_push_presence_user_session", table_name="push_presence")
    op.drop_table("push_presence")
    op.drop_index("ix_push_subscriptions_user", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
