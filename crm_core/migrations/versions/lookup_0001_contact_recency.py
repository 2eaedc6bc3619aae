"""lookup: contact keys with recency, for the screen pop's "newest records with this key"

Revision ID: lookup_0001_contact_recency
Revises: 0001_initial

``lookup_customer`` asks for the five newest contact records with one e-mail or phone. On the single-column key
indexes PostgreSQL reads every record with that key and sorts them: nothing for a person's own address, but a
switchboard number or an info@ address carries hundreds of records. With (key, observed_at) it walks the newest five
and stops. The single-column indexes stay: resolution matches on them and they are smaller.
"""

from alembic import op

revision = "lookup_0001_contact_recency"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contact_record_email_seen", "contact_record", ["email", "observed_at"], unique=False)
    op.create_index("ix_contact_record_phone_seen", "contact_record", ["phone", "observed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_record_phone_seen", table_name="contact_record")
    op.drop_index("ix_contact_record_email_seen", table_name="contact_record")
