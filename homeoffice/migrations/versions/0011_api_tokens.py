"""API tokens: personal and service tokens for /api/v1, stored as hashes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 03:28:02.952063
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("system", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("roles", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_person_id"))

    op.drop_table("api_token")
