"""presence and allocation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:31:34.749263
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "absence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("absence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_absence_person_id"), ["person_id"], unique=False)

    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calendar_feed_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            "uq_calendar_feed_active_per_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    op.create_table(
        "group_membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("group", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("group_membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_membership_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "home_room",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("person_id"),
    )
    with op.batch_alter_table("home_room", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_home_room_room_id"), ["room_id"], unique=False)

    op.create_table(
        "room_allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", "person_id"),
    )
    with op.batch_alter_table("room_allocation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_allocation_day"), ["day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_room_allocation_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_room_allocation_room_id"), ["room_id"], unique=False)

    op.create_table(
        "rotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("groups", sa.Integer(), nullable=False),
        sa.Column("office_weekdays", sa.JSON(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rotation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rotation_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rotation_valid_from"), ["valid_from"], unique=False)

    op.create_table(
        "swap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("colleague_id", sa.Integer(), nullable=False),
        sa.Column("requester_day", sa.Date(), nullable=False),
        sa.Column("colleague_day", sa.Date(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["colleague_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("swap", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_swap_colleague_id"), ["colleague_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_swap_requester_id"), ["requester_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_swap_state"), ["state"], unique=False)

    op.create_table(
        "day_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("in_office", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("swap_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["swap_id"],
            ["swap.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "day"),
    )
    with op.batch_alter_table("day_override", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_day_override_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_day_override_person_id"), ["person_id"], unique=False)

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("needs_step_free", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("needs_step_free")

    with op.batch_alter_table("day_override", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_day_override_person_id"))
        batch_op.drop_index(batch_op.f("ix_day_override_day"))

    op.drop_table("day_override")
    with op.batch_alter_table("swap", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_swap_state"))
        batch_op.drop_index(batch_op.f("ix_swap_requester_id"))
        batch_op.drop_index(batch_op.f("ix_swap_colleague_id"))

    op.drop_table("swap")
    with op.batch_alter_table("rotation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rotation_valid_from"))
        batch_op.drop_index(batch_op.f("ix_rotation_unit_id"))

    op.drop_table("rotation")
    with op.batch_alter_table("room_allocation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_allocation_room_id"))
        batch_op.drop_index(batch_op.f("ix_room_allocation_person_id"))
        batch_op.drop_index(batch_op.f("ix_room_allocation_day"))

    op.drop_table("room_allocation")
    with op.batch_alter_table("home_room", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_home_room_room_id"))

    op.drop_table("home_room")
    with op.batch_alter_table("group_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_membership_person_id"))

    op.drop_table("group_membership")
    with op.batch_alter_table("calendar_feed", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_calendar_feed_active_per_person",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_calendar_feed_person_id"))

    op.drop_table("calendar_feed")
    with op.batch_alter_table("absence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_absence_person_id"))

    op.drop_table("absence")
