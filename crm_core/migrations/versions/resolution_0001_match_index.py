"""resolution: match profiles, blocking-key index, parameters, cannot-link pairs

Revision ID: resolution_0001
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "resolution_0001"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resolution_profile",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("name_sig", sa.String(length=200), nullable=False),
        sa.Column("profile", JSON, nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["contact_record.id"], ondelete="CASCADE",
                                name=op.f("fk_resolution_profile_record_id_contact_record")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_resolution_profile")),
    )
    op.create_table(
        "resolution_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["contact_record.id"], ondelete="CASCADE",
                                name=op.f("fk_resolution_key_record_id_contact_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_key")),
        sa.UniqueConstraint("key", "record_id", name=op.f("uq_resolution_key_key_record_id")),
    )
    op.create_index("ix_resolution_key_record", "resolution_key", ["record_id"], unique=False)
    op.create_table(
        "resolution_param",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_resolution_param")),
    )
    op.create_table(
        "resolution_cannot_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["contact_record.id"], ondelete="CASCADE",
                                name=op.f("fk_resolution_cannot_link_record_id_contact_record")),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE",
                                name=op.f("fk_resolution_cannot_link_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_cannot_link")),
        sa.UniqueConstraint("record_id", "customer_id", name=op.f("uq_resolution_cannot_link_record_id_customer_id")),
    )


def downgrade() -> None:
    op.drop_table("resolution_cannot_link")
    op.drop_table("resolution_param")
    op.drop_index("ix_resolution_key_record", table_name="resolution_key")
    op.drop_table("resolution_key")
    op.drop_table("resolution_profile")
