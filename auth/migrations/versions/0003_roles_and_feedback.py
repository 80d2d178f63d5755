"""Roles (user, reviewer, admin) and users' corrections of identifications.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:  # batch: SQLite alters by copying
        users.add_column(sa.Column("role", sa.String(16), nullable=False,
                                   server_default="user"))
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("job_id", sa.String(32), nullable=False, unique=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("taxon", sa.String(64), nullable=False),
        sa.Column("comment", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("embeddings", sa.LargeBinary, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("encoder", sa.String(64), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary, nullable=True),
        sa.Column("specimens_added", sa.Integer, nullable=False),
        sa.Column("reviewed_by", sa.String(32), nullable=True),
        sa.Column("reviewed_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    with op.batch_alter_table("users") as users:
        users.drop_column("role")
