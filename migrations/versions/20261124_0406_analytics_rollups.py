"""analytics rollups: per-campaign counts kept by triggers on campaign_activities

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 04:06:54.313988
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What analytics count: activities of a campaign, except opens a mail client prefetched.
# The rollups are kept by statement-level triggers that hand the written rows, as an array,
# to one function that adds them and one that takes them away (an update is both), so every
# path that writes activities keeps the rollups exact without knowing about them.
ADD_FUNCTION = """
CREATE FUNCTION analytics_add(written campaign_activities[]) RETURNS void
LANGUAGE sql AS $$
WITH counted AS (
    SELECT a.company_id, a.campaign_id,
           coalesce(a.message_id, '00000000-0000-0000-0000-000000000000'::uuid) AS step_key,
           coalesce(a.variant, '') AS variant_key, a.activity_type, a.contact_id,
           date_bin('15 minutes', a.occurred_at, timestamptz '2000-01-01 00:00:00+00') AS bucket
    FROM unnest(written) AS a
    WHERE a.campaign_id IS NOT NULL
      AND NOT (a.activity_type = 'email_opened'
               AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')
), step_new AS (
    INSERT INTO analytics_step_contacts AS t
        (company_id, campaign_id, step_key, activity_type, contact_id, variant_key)
    SELECT DISTINCT company_id, campaign_id, step_key, activity_type, contact_id, variant_key
    FROM counted
    ON CONFLICT DO NOTHING
    RETURNING t.company_id, t.campaign_id, t.step_key, t.variant_key, t.activity_type
), campaign_new AS (
    INSERT INTO analytics_campaign_contacts AS t
        (company_id, campaign_id, activity_type, contact_id)
    SELECT DISTINCT company_id, campaign_id, activity_type, contact_id FROM counted
    ON CONFLICT DO NOTHING
    RETURNING t.company_id, t.campaign_id, t.activity_type
), step_counts AS (
    INSERT INTO analytics_step_stats AS t
        (company_id, campaign_id, step_key, variant_key, activity_type, events, contacts)
    SELECT company_id, campaign_id, step_key, variant_key, activity_type,
           sum(events), sum(contacts)
    FROM (SELECT company_id, campaign_id, step_key, variant_key, activity_type,
                 count(*) AS events, 0 AS contacts
          FROM counted GROUP BY 1, 2, 3, 4, 5
          UNION ALL
          SELECT company_id, campaign_id, step_key, variant_key, activity_type, 0, count(*)
          FROM step_new GROUP BY 1, 2, 3, 4, 5) AS d
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (campaign_id, step_key, variant_key, activity_type) DO UPDATE
    SET events = t.events + excluded.events, contacts = t.contacts + excluded.contacts
), campaign_counts AS (
    INSERT INTO analytics_campaign_stats AS t
        (company_id, campaign_id, activity_type, events, contacts)
    SELECT company_id, campaign_id, activity_type, sum(events), sum(contacts)
    FROM (SELECT company_id, campaign_id, activity_type, count(*) AS events, 0 AS contacts
          FROM counted GROUP BY 1, 2, 3
          UNION ALL
          SELECT company_id, campaign_id, activity_type, 0, count(*)
          FROM campaign_new GROUP BY 1, 2, 3) AS d
    GROUP BY 1, 2, 3
    ON CONFLICT (campaign_id, activity_type) DO UPDATE
    SET events = t.events + excluded.events, contacts = t.contacts + excluded.contacts
)
INSERT INTO analytics_timeline AS t (company_id, campaign_id, activity_type, bucket, events)
SELECT company_id, campaign_id, activity_type, bucket, count(*)
FROM counted GROUP BY 1, 2, 3, 4
ON CONFLICT (campaign_id, activity_type, bucket) DO UPDATE SET events = t.events + excluded.events
$$
"""

# Taking rows away: the counts go down, and a contact stops counting where no activity of
# theirs is left (the trigger runs after the statement, so the table shows what is left).
REMOVE_FUNCTION = """
CREATE FUNCTION analytics_remove(removed campaign_activities[]) RETURNS void
LANGUAGE sql AS $$
WITH counted AS (
    SELECT a.company_id, a.campaign_id,
           coalesce(a.message_id, '00000000-0000-0000-0000-000000000000'::uuid) AS step_key,
           coalesce(a.variant, '') AS variant_key, a.activity_type, a.contact_id,
           date_bin('15 minutes', a.occurred_at, timestamptz '2000-01-01 00:00:00+00') AS bucket
    FROM unnest(removed) AS a
    WHERE a.campaign_id IS NOT NULL
      AND NOT (a.activity_type = 'email_opened'
               AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')
), remaining AS (
    SELECT a.company_id, a.campaign_id,
           coalesce(a.message_id, '00000000-0000-0000-0000-000000000000'::uuid) AS step_key,
           coalesce(a.variant, '') AS variant_key, a.activity_type, a.contact_id
    FROM campaign_activities AS a
    JOIN (SELECT DISTINCT company_id, contact_id FROM counted) AS k
      ON a.company_id = k.company_id AND a.contact_id = k.contact_id
    WHERE a.campaign_id IS NOT NULL
      AND NOT (a.activity_type = 'email_opened'
               AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')
), step_gone AS (
    DELETE FROM analytics_step_contacts AS t
    USING (SELECT DISTINCT campaign_id, step_key, variant_key, activity_type, contact_id
           FROM counted) AS g
    WHERE t.campaign_id = g.campaign_id AND t.step_key = g.step_key
      AND t.variant_key = g.variant_key AND t.activity_type = g.activity_type
      AND t.contact_id = g.contact_id
      AND NOT EXISTS (SELECT 1 FROM remaining AS r
                      WHERE r.campaign_id = g.campaign_id AND r.step_key = g.step_key
                        AND r.variant_key = g.variant_key
                        AND r.activity_type = g.activity_type AND r.contact_id = g.contact_id)
    RETURNING t.campaign_id, t.step_key, t.variant_key, t.activity_type
), campaign_gone AS (
    DELETE FROM analytics_campaign_contacts AS t
    USING (SELECT DISTINCT campaign_id, activity_type, contact_id FROM counted) AS g
    WHERE t.campaign_id = g.campaign_id AND t.activity_type = g.activity_type
      AND t.contact_id = g.contact_id
      AND NOT EXISTS (SELECT 1 FROM remaining AS r
                      WHERE r.campaign_id = g.campaign_id AND r.activity_type = g.activity_type
                        AND r.contact_id = g.contact_id)
    RETURNING t.campaign_id, t.activity_type
), step_counts AS (
    UPDATE analytics_step_stats AS t
    SET events = t.events - d.events, contacts = t.contacts - d.contacts
    FROM (SELECT campaign_id, step_key, variant_key, activity_type,
                 sum(events) AS events, sum(contacts) AS contacts
          FROM (SELECT campaign_id, step_key, variant_key, activity_type,
                       count(*) AS events, 0 AS contacts
                FROM counted GROUP BY 1, 2, 3, 4
                UNION ALL
                SELECT campaign_id, step_key, variant_key, activity_type, 0, count(*)
                FROM step_gone GROUP BY 1, 2, 3, 4) AS x
          GROUP BY 1, 2, 3, 4) AS d
    WHERE t.campaign_id = d.campaign_id AND t.step_key = d.step_key
      AND t.variant_key = d.variant_key AND t.activity_type = d.activity_type
), campaign_counts AS (
    UPDATE analytics_campaign_stats AS t
    SET events = t.events - d.events, contacts = t.contacts - d.contacts
    FROM (SELECT campaign_id, activity_type, sum(events) AS events, sum(contacts) AS contacts
          FROM (SELECT campaign_id, activity_type, count(*) AS events, 0 AS contacts
                FROM counted GROUP BY 1, 2
                UNION ALL
                SELECT campaign_id, activity_type, 0, count(*)
                FROM campaign_gone GROUP BY 1, 2) AS x
          GROUP BY 1, 2) AS d
    WHERE t.campaign_id = d.campaign_id AND t.activity_type = d.activity_type
)
UPDATE analytics_timeline AS t SET events = t.events - d.events
FROM (SELECT campaign_id, activity_type, bucket, count(*) AS events
      FROM counted GROUP BY 1, 2, 3) AS d
WHERE t.campaign_id = d.campaign_id AND t.activity_type = d.activity_type
  AND t.bucket = d.bucket
$$
"""

TRIGGERS = """
CREATE FUNCTION analytics_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_add(ARRAY(SELECT w::campaign_activities FROM written AS w));
    RETURN NULL;
END $$;
CREATE FUNCTION analytics_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_remove(ARRAY(SELECT r::campaign_activities FROM removed AS r));
    RETURN NULL;
END $$;
CREATE FUNCTION analytics_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_remove(ARRAY(SELECT r::campaign_activities FROM removed AS r));
    PERFORM analytics_add(ARRAY(SELECT w::campaign_activities FROM written AS w));
    RETURN NULL;
END $$;
CREATE TRIGGER analytics_after_insert AFTER INSERT ON campaign_activities
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION analytics_on_insert();
CREATE TRIGGER analytics_after_delete AFTER DELETE ON campaign_activities
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION analytics_on_delete();
CREATE TRIGGER analytics_after_update AFTER UPDATE ON campaign_activities
    REFERENCING OLD TABLE AS removed NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_on_update();
"""

# Activities written before this migration, counted once (in batches: a large log need not be
# held in one array).
BACKFILL = """
DO $$
DECLARE
    batch campaign_activities[];
    last_id uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    LOOP
        batch := ARRAY(SELECT a FROM campaign_activities AS a WHERE a.id > last_id
                       ORDER BY a.id LIMIT 50000);
        EXIT WHEN cardinality(batch) = 0;
        PERFORM analytics_add(batch);
        last_id := batch[cardinality(batch)].id;
    END LOOP;
END $$;
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS analytics_after_insert ON campaign_activities;
DROP TRIGGER IF EXISTS analytics_after_delete ON campaign_activities;
DROP TRIGGER IF EXISTS analytics_after_update ON campaign_activities;
DROP FUNCTION IF EXISTS analytics_on_insert();
DROP FUNCTION IF EXISTS analytics_on_delete();
DROP FUNCTION IF EXISTS analytics_on_update();
DROP FUNCTION IF EXISTS analytics_add(campaign_activities[]);
DROP FUNCTION IF EXISTS analytics_remove(campaign_activities[]);
"""


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "analytics_campaign_contacts",
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            name=op.f("fk_analytics_campaign_contacts_company_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id",
            "activity_type",
            "contact_id",
            name=op.f("pk_analytics_campaign_contacts"),
        ),
    )
    op.create_table(
        "analytics_campaign_stats",
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("contacts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            name=op.f("fk_analytics_campaign_stats_company_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "activity_type", name=op.f("pk_analytics_campaign_stats")
        ),
    )
    op.create_table(
        "analytics_step_contacts",
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("step_key", sa.UUID(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=False),
        sa.Column("variant_key", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            name=op.f("fk_analytics_step_contacts_company_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id",
            "step_key",
            "activity_type",
            "variant_key",
            "contact_id",
            name=op.f("pk_analytics_step_contacts"),
        ),
    )
    op.create_table(
        "analytics_step_stats",
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("step_key", sa.UUID(), nullable=False),
        sa.Column("variant_key", sa.String(length=100), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("contacts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            name=op.f("fk_analytics_step_stats_company_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id",
            "step_key",
            "variant_key",
            "activity_type",
            name=op.f("pk_analytics_step_stats"),
        ),
    )
    op.create_table(
        "analytics_timeline",
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            name=op.f("fk_analytics_timeline_company_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "activity_type", "bucket", name=op.f("pk_analytics_timeline")
        ),
    )
    # ### end Alembic commands ###
    op.execute(ADD_FUNCTION)
    op.execute(REMOVE_FUNCTION)
    op.execute(TRIGGERS)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(DROP_TRIGGERS)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table("analytics_timeline")
    op.drop_table("analytics_step_stats")
    op.drop_table("analytics_step_contacts")
    op.drop_table("analytics_campaign_stats")
    op.drop_table("analytics_campaign_contacts")
    # ### end Alembic commands ###
