"""several units per room, and the record of every allocation run

``room.unit_id`` (one unit, or none for any unit) becomes the link table ``room_unit``:
a room may now serve several units, and a room without rows stays open to every unit.
The existing links are copied over before the column goes. ``allocation_run`` keeps the
figures and conflicts of every run of the single-office allocation.

The downgrade puts back the column with the room's first unit (the lowest id) when a
room had several.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 04:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_unit",
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("room_id", "unit_id"),
    )
    with op.batch_alter_table("room_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_unit_unit_id"), ["unit_id"], unique=False)
    op.execute(
        "INSERT INTO room_unit (room_id, unit_id) "
        "SELECT id, unit_id FROM room WHERE unit_id IS NOT NULL"
    )
    # Dropping the column drops its foreign key too: PostgreSQL does so itself, and
    # SQLite's batch mode rebuilds the table without the constraint on a column it lost.
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_unit_id"))
        batch_op.drop_column("unit_id")

    op.create_table(
        "allocation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("to_day", sa.Date(), nullable=False),
        sa.Column("person_days", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.Column("unplaced", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("allocation_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_run_by_id"), ["by_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_allocation_run_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("allocation_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_run_started_at"))
        batch_op.drop_index(batch_op.f("ix_allocation_run_by_id"))
    op.drop_table("allocation_run")

    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("room_unit_id_fkey", "unit", ["unit_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_room_unit_id"), ["unit_id"], unique=False)
    op.execute(
        "UPDATE room SET unit_id = "
        "(SELECT MIN(room_unit.unit_id) FROM room_unit WHERE room_unit.room_id = room.id)"
    )
    with op.batch_alter_table("room_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_unit_unit_id"))
    op.drop_table("room_unit")
