"""scoring write path: the fingerprints of each lead's newest scores; score ids by the server

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Bulk qualification writes a score row only when it differs from the newest stored one of
# its lead and type. Finding those newest rows in the whole history took seconds per 100,000
# leads and grew with the history; the fingerprints of the newest rows are now kept, one row
# per lead. A fingerprint is the first 64 bits of md5("<score> <factors as jsonb text>"), the
# same as scoring.repository.fingerprint computes; existing histories are fingerprinted here.
_FINGERPRINT_EXISTING = """
INSERT INTO lead_score_fingerprints (company_id, lead_id, fingerprints, scored_at)
SELECT company_id, lead_id,
       jsonb_object_agg(score_type, left(md5(score::text || ' ' || factors::text), 16)),
       max(computed_at)
FROM (
    SELECT DISTINCT ON (company_id, lead_id, score_type)
           company_id, lead_id, score_type, score, factors, computed_at
    FROM lead_scores
    WHERE score_type <> 'manual'
    ORDER BY company_id, lead_id, score_type, computed_at DESC, id
) AS newest
GROUP BY company_id, lead_id
"""


def upgrade() -> None:
    # COPY of new score rows sends no id
    op.execute("ALTER TABLE lead_scores ALTER COLUMN id SET DEFAULT gen_random_uuid()")
    op.create_table(
        "lead_score_fingerprints",
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("fingerprints", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_lead_score_fingerprints_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_score_fingerprints_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", "lead_id", name=op.f("pk_lead_score_fingerprints")),
    )
    op.execute(_FINGERPRINT_EXISTING)


def downgrade() -> None:
    op.drop_table("lead_score_fingerprints")
    op.execute("ALTER TABLE lead_scores ALTER COLUMN id DROP DEFAULT")
