"""request queue index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:29:00.446965
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("home_office_request", schema=None) as batch_op:
        batch_op.create_index("ix_request_queue_order", ["submitted_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("home_office_request", schema=None) as batch_op:
        batch_op.drop_index("ix_request_queue_order")
