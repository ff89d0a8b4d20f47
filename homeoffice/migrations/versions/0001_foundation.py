"""foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:25:37.306075
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "building",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_tag", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("serial_number", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("purchase_date", sa.Date(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_tag"),
        sa.UniqueConstraint("serial_number"),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_state"), ["state"], unique=False)

    op.create_table(
        "local_directory_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dn", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dn"),
    )
    op.create_table(
        "local_directory_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("dn", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("mail", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("manager_dn", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("employee_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dn"),
    )
    with op.batch_alter_table("local_directory_user", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_local_directory_user_username"), ["username"], unique=True
        )

    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempt_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempt_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempt_username"), ["username"], unique=False)

    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_head_id"), ["head_id"], unique=False)

    op.create_table(
        "local_directory_membership",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["local_directory_group.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["local_directory_user.id"],
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("dn", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("dn_key", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("mail", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("employee_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("manager_dn_key", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("roles", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deactivated_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_active"), ["active"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_dn_key"), ["dn_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_manager_id"), ["manager_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_username"), ["username"], unique=True)

    # unit.head_id → person.id closes the person ↔ unit cycle, so it comes last.
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_unit_head_id_person", "person", ["head_id"], ["id"])

    op.create_table(
        "room",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("infection_capacity", sa.Integer(), nullable=False),
        sa.Column("step_free", sa.Boolean(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["building.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("building_id", "number"),
    )
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_room_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)

    op.create_table(
        "login_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("authenticated_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_session_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_constraint("fk_unit_head_id_person", type_="foreignkey")
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_session_person_id"))

    op.drop_table("login_session")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_actor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_unit_id"))
        batch_op.drop_index(batch_op.f("ix_room_building_id"))

    op.drop_table("room")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_username"))
        batch_op.drop_index(batch_op.f("ix_person_unit_id"))
        batch_op.drop_index(batch_op.f("ix_person_manager_id"))
        batch_op.drop_index(batch_op.f("ix_person_dn_key"))
        batch_op.drop_index(batch_op.f("ix_person_active"))

    op.drop_table("person")
    op.drop_table("local_directory_membership")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_head_id"))

    op.drop_table("unit")
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempt_username"))
        batch_op.drop_index(batch_op.f("ix_login_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_login_attempt_address"))

    op.drop_table("login_attempt")
    with op.batch_alter_table("local_directory_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_local_directory_user_username"))

    op.drop_table("local_directory_user")
    op.drop_table("local_directory_group")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_state"))

    op.drop_table("device")
    op.drop_table("building")
