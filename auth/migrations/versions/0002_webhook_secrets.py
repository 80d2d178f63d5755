"""Webhook signing secrets, one per user.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("previous", sa.String(64), nullable=True),
        sa.Column("previous_until", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
