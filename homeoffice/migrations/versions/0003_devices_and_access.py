"""devices and access

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:58:38.650225
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import homeoffice.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_authority",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_pem", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("key_pem_encrypted", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("crl_number", sa.Integer(), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=True),
        sa.Column("crl_next_update", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "remote_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("networks", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("remote_access", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("issued_at", homeoffice.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("revoke_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("secret_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("certificate_serial", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column(
            "certificate_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
        ),
        sa.Column("certificate_not_after", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "wireguard_public_key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True
        ),
        sa.Column("wireguard_address", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_id"],
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
    )
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credential_agreement_id"), ["agreement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credential_certificate_serial"), ["certificate_serial"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_credential_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_credential_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credential_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_credential_active_kind_per_person",
            ["person_id", "kind"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
        batch_op.create_index(
            "uq_credential_active_wireguard_address",
            ["wireguard_address"],
            unique=True,
            sqlite_where=sa.text("state = 'active' AND wireguard_address IS NOT NULL"),
            postgresql_where=sa.text("state = 'active' AND wireguard_address IS NOT NULL"),
        )

    op.create_table(
        "handover",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("handed_over_on", sa.Date(), nullable=False),
        sa.Column("handed_over_by_id", sa.Integer(), nullable=False),
        sa.Column("accessories", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("expected_return", sa.Date(), nullable=True),
        sa.Column("confirmed_at", homeoffice.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("returned_to_id", sa.Integer(), nullable=True),
        sa.Column("return_note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.ForeignKeyConstraint(
            ["handed_over_by_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["returned_to_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("handover", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_handover_agreement_id"), ["agreement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_handover_device_id"), ["device_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_handover_expected_return"), ["expected_return"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_handover_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_handover_returned_on"), ["returned_on"], unique=False)
        batch_op.create_index(
            "uq_handover_open_per_device",
            ["device_id"],
            unique=True,
            sqlite_where=sa.text("returned_on IS NULL"),
            postgresql_where=sa.text("returned_on IS NULL"),
        )

    with op.batch_alter_table("it_task", schema=None) as batch_op:
        # server_default: existing tasks start with zero attempts.
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )

    with op.batch_alter_table("local_directory_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_expires", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("local_directory_user", schema=None) as batch_op:
        batch_op.drop_column("account_expires")

    with op.batch_alter_table("it_task", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")

    with op.batch_alter_table("handover", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_handover_open_per_device",
            sqlite_where=sa.text("returned_on IS NULL"),
            postgresql_where=sa.text("returned_on IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_handover_returned_on"))
        batch_op.drop_index(batch_op.f("ix_handover_person_id"))
        batch_op.drop_index(batch_op.f("ix_handover_expected_return"))
        batch_op.drop_index(batch_op.f("ix_handover_device_id"))
        batch_op.drop_index(batch_op.f("ix_handover_agreement_id"))

    op.drop_table("handover")
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_credential_active_wireguard_address",
            sqlite_where=sa.text("state = 'active' AND wireguard_address IS NOT NULL"),
            postgresql_where=sa.text("state = 'active' AND wireguard_address IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_credential_active_kind_per_person",
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_credential_state"))
        batch_op.drop_index(batch_op.f("ix_credential_person_id"))
        batch_op.drop_index(batch_op.f("ix_credential_kind"))
        batch_op.drop_index(batch_op.f("ix_credential_certificate_serial"))
        batch_op.drop_index(batch_op.f("ix_credential_agreement_id"))

    op.drop_table("credential")
    op.drop_table("remote_application")
    op.drop_table("certificate_authority")
