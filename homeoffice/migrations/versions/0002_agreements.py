"""agreements

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:41:48.956106
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("body_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body_html", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("next_attempt_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_message_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_message_event"), ["event"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "home_office_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reasons", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("children_under_14", sa.Integer(), nullable=False),
        sa.Column("youngest_child_age", sa.Integer(), nullable=True),
        sa.Column("care_level", sa.Integer(), nullable=True),
        sa.Column("commute_km", sa.Float(), nullable=True),
        sa.Column("commute_minutes", sa.Integer(), nullable=True),
        sa.Column("health_certificate", sa.Boolean(), nullable=False),
        sa.Column("other_text", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("pattern", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("share_percent", sa.Integer(), nullable=True),
        sa.Column("weekdays", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("wants_laptop", sa.Boolean(), nullable=False),
        sa.Column("wants_vpn", sa.Boolean(), nullable=False),
        sa.Column("wants_terminal_server", sa.Boolean(), nullable=False),
        sa.Column("uses_private_computer", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=True),
        sa.Column("rule_set", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("endorsed_by_id", sa.Integer(), nullable=True),
        sa.Column("endorsed_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("endorsement_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("override_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("withdrawn_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["endorsed_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("home_office_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_home_office_request_agreement_id"), ["agreement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_home_office_request_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_home_office_request_eligible"), ["eligible"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_home_office_request_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_home_office_request_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_request_open_per_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('draft', 'submitted', 'endorsed', 'objected')"),
            postgresql_where=sa.text("state IN ('draft', 'submitted', 'endorsed', 'objected')"),
        )

    op.create_table(
        "agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("pattern", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("share_percent", sa.Integer(), nullable=True),
        sa.Column("weekdays", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("days_per_week", sa.Float(), nullable=False),
        sa.Column("rule_set", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("conditions", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("health_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["agreement.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["home_office_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_end_date"), ["end_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_start_date"), ["start_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreement_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_agreement_active_per_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    # home_office_request.agreement_id → agreement closes the request ↔ agreement cycle.
    with op.batch_alter_table("home_office_request", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_request_agreement_id_agreement", "agreement", ["agreement_id"], ["id"]
        )

    op.create_table(
        "it_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.ForeignKeyConstraint(
            ["done_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("it_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_it_task_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_it_task_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_it_task_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("home_office_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_request_agreement_id_agreement", type_="foreignkey")
    with op.batch_alter_table("it_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_it_task_state"))
        batch_op.drop_index(batch_op.f("ix_it_task_person_id"))
        batch_op.drop_index(batch_op.f("ix_it_task_agreement_id"))

    op.drop_table("it_task")
    with op.batch_alter_table("agreement", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_agreement_active_per_person",
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_agreement_state"))
        batch_op.drop_index(batch_op.f("ix_agreement_start_date"))
        batch_op.drop_index(batch_op.f("ix_agreement_person_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_kind"))
        batch_op.drop_index(batch_op.f("ix_agreement_end_date"))

    op.drop_table("agreement")
    with op.batch_alter_table("home_office_request", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_request_open_per_person",
            sqlite_where=sa.text("state IN ('draft', 'submitted', 'endorsed', 'objected')"),
            postgresql_where=sa.text("state IN ('draft', 'submitted', 'endorsed', 'objected')"),
        )
        batch_op.drop_index(batch_op.f("ix_home_office_request_state"))
        batch_op.drop_index(batch_op.f("ix_home_office_request_person_id"))
        batch_op.drop_index(batch_op.f("ix_home_office_request_eligible"))
        batch_op.drop_index(batch_op.f("ix_home_office_request_created_at"))
        batch_op.drop_index(batch_op.f("ix_home_office_request_agreement_id"))

    op.drop_table("home_office_request")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_sent_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_event"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_created_at"))

    op.drop_table("outbox_message")
