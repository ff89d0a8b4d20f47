"""reminders sent, and the index the job history reads

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 03:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("sent_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "object_id", "stage"),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index("ix_job_run_job_id", ["job", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_index("ix_job_run_job_id")
    op.drop_table("reminder")
