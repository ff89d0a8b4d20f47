"""Webhooks: registered receivers and the outbox of their deliveries

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 03:42:36.621508
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("events", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("secret_encrypted", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("secret_prefix", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_delivery_due", ["delivered_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_delivery_webhook_id_id", ["webhook_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_delivery_webhook_id_id")
        batch_op.drop_index("ix_webhook_delivery_due")

    op.drop_table("webhook_delivery")
    op.drop_table("webhook")
