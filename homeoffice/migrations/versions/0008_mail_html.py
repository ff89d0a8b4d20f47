"""mail language

The HTML body column (``outbox_message.body_html``) exists since 0002; this revision
adds the recipient's language, which the sender needs for the Content-Language header
and the ``lang`` attribute of the HTML part.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 03:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("locale")
