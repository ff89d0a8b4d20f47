"""unit cost centre

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:17:53.480162
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cost_centre", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_column("cost_centre")
