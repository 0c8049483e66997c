"""Session epochs: which history a session's seqs count in (tether.recovery).

Every existing session gets its own random epoch. Clients that knew a session before this
migration hold no epoch for it and are served as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("epoch", sa.String(32), nullable=True))
    # Not tether.store's new_epoch(): a migration stays as it was written when the code moves.
    sessions = sa.table("sessions", sa.column("id", sa.String), sa.column("epoch", sa.String))
    connection = op.get_bind()
    ids = [row[0] for row in connection.execute(sa.select(sessions.c.id))]
    if ids:
        connection.execute(
            sessions.update()
            .where(sessions.c.id == sa.bindparam("p_id"))
            .values(epoch=sa.bindparam("p_epoch")),
            [{"p_id": i, "p_epoch": secrets.token_hex(8)} for i in ids],
        )
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("epoch", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("epoch")
