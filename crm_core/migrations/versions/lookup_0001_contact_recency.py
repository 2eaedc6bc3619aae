"""lookup: contact keys indexed with their recency, for the screen pop's "newest records with this key"

Revision ID: lookup_0001_contact_recency
Revises: 0001_initial

``lookup_customer`` asks for the five newest contact records with one e-mail or phone. On single-column key
indexes PostgreSQL reads every record with that key and sorts them: nothing for a person's own address, but a
switchboard number or an info@ address carries hundreds of records. With (key, observed_at) it walks the newest five
and stops. The composite indexes replace the single-column ones: an equality or ``IN`` match on the key alone
(resolution's) uses them just as well, and with both present the planner keeps picking the smaller one and sorting.
"""

from alembic import op

revision = "lookup_0001_contact_recency"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contact_record_email_seen", "contact_record", ["email", "observed_at"], unique=False)
    op.create_index("ix_contact_record_phone_seen", "contact_record", ["phone", "observed_at"], unique=False)
    op.drop_index("ix_contact_record_email", table_name="contact_record")
    op.drop_index("ix_contact_record_phone", table_name="contact_record")


def downgrade() -> None:
    op.create_index("ix_contact_record_phone", "contact_record", ["phone"], unique=False)
    op.create_index("ix_contact_record_email", "contact_record", ["email"], unique=False)
    op.drop_index("ix_contact_record_phone_seen", table_name="contact_record")
    op.drop_index("ix_contact_record_email_seen", table_name="contact_record")
