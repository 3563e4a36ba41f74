"""enrollment write path: time-ordered ids, composite tenant foreign keys, fewer indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Rows written in bulk
# get ids in time order, so a primary key on them grows at its right end instead of touching
# random pages of an index that outgrows memory. random() (not gen_random_uuid()) for the
# random bits: a few times cheaper per row, and uniqueness is still checked by the key.
UUID_V7 = """
CREATE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
SELECT encode(
    int8send((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16)
             | 28672 | (random() * 4095)::int)
    || int8send(((random() * 4611686018427387904)::bigint & 4611686018427387903)
                # (random() * 1073741823)::bigint
                | (-9223372036854775808)::bigint),
    'hex')::uuid
$$
"""


def upgrade() -> None:
    op.execute(UUID_V7)
    op.create_unique_constraint(
        op.f("uq_campaigns_company_id_id"), "campaigns", ["company_id", "id"]
    )
    op.create_unique_constraint(op.f("uq_contacts_company_id_id"), "contacts", ["company_id", "id"])

    # campaign_contacts: composite tenant keys instead of one key per column
    op.drop_constraint(
        op.f("fk_campaign_contacts_company_id_companies"), "campaign_contacts", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_campaign_contacts_campaign_id_campaigns"), "campaign_contacts", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_campaign_contacts_contact_id_contacts"), "campaign_contacts", type_="foreignkey"
    )
    op.create_foreign_key(
        op.f("fk_campaign_contacts_company_id_campaigns"),
        "campaign_contacts",
        "campaigns",
        ["company_id", "campaign_id"],
        ["company_id", "id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_campaign_contacts_company_id_contacts"),
        "campaign_contacts",
        "contacts",
        ["company_id", "contact_id"],
        ["company_id", "id"],
        ondelete="CASCADE",
    )
    # counts by status come from the unique index (status included), not an index of their own
    op.drop_index(
        op.f("ix_campaign_contacts_company_id_campaign_id_status"), table_name="campaign_contacts"
    )
    op.drop_constraint(
        op.f("uq_campaign_contacts_company_id_campaign_id_contact_id"),
        "campaign_contacts",
        type_="unique",
    )
    # (alembic's create_unique_constraint cannot render INCLUDE)
    op.execute(
        "ALTER TABLE campaign_contacts ADD CONSTRAINT"
        " uq_campaign_contacts_company_id_campaign_id_contact_id"
        " UNIQUE (company_id, campaign_id, contact_id) INCLUDE (status)"
    )

    # campaign_activities: the same composite keys; the lead index only holds rows with a lead
    for column in ("company_id", "campaign_id", "contact_id"):
        referred = {"company_id": "companies", "campaign_id": "campaigns"}.get(column, "contacts")
        op.drop_constraint(
            op.f(f"fk_campaign_activities_{column}_{referred}"),
            "campaign_activities",
            type_="foreignkey",
        )
    for referred in ("campaigns", "contacts"):
        op.create_foreign_key(
            op.f(f"fk_campaign_activities_company_id_{referred}"),
            "campaign_activities",
            referred,
            ["company_id", f"{referred[:-1]}_id"],
            ["company_id", "id"],
            ondelete="CASCADE",
        )
    op.drop_index(
        op.f("ix_campaign_activities_company_id_lead_id_occurred_at"),
        table_name="campaign_activities",
    )
    op.create_index(
        "ix_campaign_activities_company_id_lead_id_occurred_at",
        "campaign_activities",
        ["company_id", "lead_id", "occurred_at"],
        unique=False,
        postgresql_where="lead_id IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_campaign_activities_company_id_lead_id_occurred_at",
        table_name="campaign_activities",
        postgresql_where="lead_id IS NOT NULL",
    )
    op.create_index(
        op.f("ix_campaign_activities_company_id_lead_id_occurred_at"),
        "campaign_activities",
        ["company_id", "lead_id", "occurred_at"],
        unique=False,
    )
    for referred in ("campaigns", "contacts"):
        op.drop_constraint(
            op.f(f"fk_campaign_activities_company_id_{referred}"),
            "campaign_activities",
            type_="foreignkey",
        )
    for column, referred in (
        ("company_id", "companies"),
        ("campaign_id", "campaigns"),
        ("contact_id", "contacts"),
    ):
        op.create_foreign_key(
            op.f(f"fk_campaign_activities_{column}_{referred}"),
            "campaign_activities",
            referred,
            [column],
            ["id"],
            ondelete="CASCADE",
        )
    op.drop_constraint(
        op.f("uq_campaign_contacts_company_id_campaign_id_contact_id"),
        "campaign_contacts",
        type_="unique",
    )
    op.create_unique_constraint(
        op.f("uq_campaign_contacts_company_id_campaign_id_contact_id"),
        "campaign_contacts",
        ["company_id", "campaign_id", "contact_id"],
    )
    op.create_index(
        op.f("ix_campaign_contacts_company_id_campaign_id_status"),
        "campaign_contacts",
        ["company_id", "campaign_id", "status"],
        unique=False,
    )
    op.drop_constraint(
        op.f("fk_campaign_contacts_company_id_contacts"), "campaign_contacts", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_campaign_contacts_company_id_campaigns"), "campaign_contacts", type_="foreignkey"
    )
    op.create_foreign_key(
        op.f("fk_campaign_contacts_contact_id_contacts"),
        "campaign_contacts",
        "contacts",
        ["contact_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_campaign_contacts_campaign_id_campaigns"),
        "campaign_contacts",
        "campaigns",
        ["campaign_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_campaign_contacts_company_id_companies"),
        "campaign_contacts",
        "companies",
        ["company_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(op.f("uq_contacts_company_id_id"), "contacts", type_="unique")
    op.drop_constraint(op.f("uq_campaigns_company_id_id"), "campaigns", type_="unique")
    op.execute("DROP FUNCTION uuid_v7()")
