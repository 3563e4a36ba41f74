"""analytics rollups: per-campaign counts queued by triggers on campaign_activities, folded in batches

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

# How the rollups are kept. Writing an activity must stay cheap (a status callback is one
# statement on the hottest path), so a statement trigger only queues each counted activity,
# as +1 (written) or -1 (deleted; an update is both), in `analytics_pending`: one narrow
# insert. `analytics_fold()` takes the queue in order, under an advisory lock, and applies it
# set-based: one upsert per rollup row for a whole batch. The worker folds every second, and
# the analytics endpoints fold before they read, so what they show is exact and current.
# What counts: activities of a campaign, except opens a mail client prefetched.
# Which funnel stages each activity type counts for (a function, not a table: it is part of
# the schema's logic, not data). A contact counts once per stage, however
# many of its types it had (an e-mail and an SMS sent; a WhatsApp message delivered and read).
# E-mail counts as delivered once the receiving server accepted it (`email_sent`); bounces
# are taken off by the reader.
STAGE_MAP = """
CREATE FUNCTION analytics_stages(kind varchar) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE kind
    WHEN 'email_sent' THEN ARRAY['sent', 'delivered']
    WHEN 'sms_sent' THEN ARRAY['sent']
    WHEN 'whatsapp_sent' THEN ARRAY['sent']
    WHEN 'call_initiated' THEN ARRAY['sent']
    WHEN 'email_delivered' THEN ARRAY['delivered']
    WHEN 'sms_delivered' THEN ARRAY['delivered']
    WHEN 'whatsapp_delivered' THEN ARRAY['delivered']
    WHEN 'whatsapp_read' THEN ARRAY['delivered', 'opened']
    WHEN 'call_answered' THEN ARRAY['delivered']
    WHEN 'email_opened' THEN ARRAY['opened']
    WHEN 'email_clicked' THEN ARRAY['clicked']
    WHEN 'link_clicked' THEN ARRAY['clicked']
    WHEN 'email_replied' THEN ARRAY['replied']
    WHEN 'sms_replied' THEN ARRAY['replied']
    WHEN 'whatsapp_replied' THEN ARRAY['replied']
    WHEN 'email_bounced' THEN ARRAY['bounced']
    WHEN 'email_unsubscribed' THEN ARRAY['unsubscribed']
    WHEN 'email_complained' THEN ARRAY['unsubscribed']
    WHEN 'sms_opted_out' THEN ARRAY['unsubscribed']
    WHEN 'message_failed' THEN ARRAY['failed']
    WHEN 'sms_failed' THEN ARRAY['failed']
    WHEN 'whatsapp_failed' THEN ARRAY['failed']
    WHEN 'call_failed' THEN ARRAY['failed']
    ELSE ARRAY[]::text[]
END
$$
"""

PENDING_TABLE = """
CREATE TABLE analytics_pending (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    step_key uuid NOT NULL,
    variant_key varchar(100) NOT NULL,
    activity_type varchar(32) NOT NULL,
    contact_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    delta smallint NOT NULL
)
"""

QUEUE_FUNCTIONS = """
-- The one place that says what analytics count and how a queued row looks: the triggers, the
-- backfill below and a rebuild (analytics/rollups.py) all hand their rows to it. Returns how
-- many were queued.
CREATE FUNCTION analytics_enqueue(activities campaign_activities[], delta smallint)
RETURNS bigint LANGUAGE sql AS $$
WITH queued AS (
INSERT INTO analytics_pending (company_id, campaign_id, step_key, variant_key, activity_type,
                               contact_id, bucket, delta)
SELECT a.company_id, a.campaign_id,
       coalesce(a.message_id, '00000000-0000-0000-0000-000000000000'::uuid),
       coalesce(a.variant, ''), a.activity_type, a.contact_id,
       date_bin('15 minutes', a.occurred_at, timestamptz '2000-01-01 00:00:00+00'), delta
FROM unnest(activities) AS a
WHERE a.campaign_id IS NOT NULL
  AND NOT (a.activity_type = 'email_opened'
           AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')
ORDER BY a.id
RETURNING 1
)
SELECT count(*) FROM queued
$$;
CREATE FUNCTION analytics_queue_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_enqueue(ARRAY(SELECT w::campaign_activities FROM written AS w), 1::smallint);
    RETURN NULL;
END $$;
CREATE FUNCTION analytics_queue_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_enqueue(ARRAY(SELECT r::campaign_activities FROM removed AS r), -1::smallint);
    RETURN NULL;
END $$;
CREATE FUNCTION analytics_queue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- what the rows were comes out, what they are goes in (removals first: ids keep order)
    PERFORM analytics_enqueue(ARRAY(SELECT r::campaign_activities FROM removed AS r), -1::smallint);
    PERFORM analytics_enqueue(ARRAY(SELECT w::campaign_activities FROM written AS w), 1::smallint);
    RETURN NULL;
END $$;
CREATE TRIGGER analytics_after_insert AFTER INSERT ON campaign_activities
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_queue_written();
CREATE TRIGGER analytics_after_delete AFTER DELETE ON campaign_activities
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_queue_removed();
CREATE TRIGGER analytics_after_update AFTER UPDATE ON campaign_activities
    REFERENCING OLD TABLE AS removed NEW TABLE AS written FOR EACH STATEMENT
    EXECUTE FUNCTION analytics_queue_changed();
"""

# Folding a batch: additions first (a contact starts counting where it is new), then
# removals (a contact stops counting where no activity of theirs is left in the raw log).
FOLD_FUNCTION = """
CREATE FUNCTION analytics_fold(max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    folded integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('agentconnect.analytics_fold'));
    CREATE TEMP TABLE IF NOT EXISTS analytics_batch
        (LIKE analytics_pending INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
    DELETE FROM analytics_batch;
    WITH taken AS (
        DELETE FROM analytics_pending
        WHERE id IN (SELECT id FROM analytics_pending ORDER BY id LIMIT max_rows)
        RETURNING *
    )
    INSERT INTO analytics_batch SELECT * FROM taken;
    GET DIAGNOSTICS folded = ROW_COUNT;
    IF folded = 0 THEN
        RETURN 0;
    END IF;

    WITH added AS (
        SELECT company_id, campaign_id, step_key, variant_key, activity_type, contact_id, bucket
        FROM analytics_batch WHERE delta > 0
        UNION ALL  -- each activity also counts for its funnel stage (a contact once per stage)
        SELECT b.company_id, b.campaign_id, b.step_key, b.variant_key, 'stage:' || m.stage,
               b.contact_id, b.bucket
        FROM analytics_batch AS b CROSS JOIN LATERAL unnest(analytics_stages(b.activity_type)) AS m(stage)
        WHERE b.delta > 0
    ),
    step_new AS (
        INSERT INTO analytics_step_contacts AS t
            (company_id, campaign_id, step_key, activity_type, variant_key, contact_id)
        SELECT DISTINCT company_id, campaign_id, step_key, activity_type, variant_key,
                        contact_id
        FROM added
        ON CONFLICT DO NOTHING
        RETURNING t.company_id, t.campaign_id, t.step_key, t.variant_key, t.activity_type
    ), campaign_new AS (
        INSERT INTO analytics_campaign_contacts AS t
            (company_id, campaign_id, activity_type, contact_id)
        SELECT DISTINCT company_id, campaign_id, activity_type, contact_id FROM added
        ON CONFLICT DO NOTHING
        RETURNING t.company_id, t.campaign_id, t.activity_type
    ), step_counts AS (
        INSERT INTO analytics_step_stats AS t
            (company_id, campaign_id, step_key, variant_key, activity_type, events, contacts)
        SELECT company_id, campaign_id, step_key, variant_key, activity_type,
               sum(events), sum(contacts)
        FROM (SELECT company_id, campaign_id, step_key, variant_key, activity_type,
                     count(*) AS events, 0 AS contacts
              FROM added GROUP BY 1, 2, 3, 4, 5
              UNION ALL
              SELECT company_id, campaign_id, step_key, variant_key, activity_type,
                     0, count(*)
              FROM step_new GROUP BY 1, 2, 3, 4, 5) AS d
        GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (campaign_id, step_key, variant_key, activity_type) DO UPDATE
        SET events = t.events + excluded.events, contacts = t.contacts + excluded.contacts
    ), campaign_counts AS (
        INSERT INTO analytics_campaign_stats AS t
            (company_id, campaign_id, activity_type, events, contacts)
        SELECT company_id, campaign_id, activity_type, sum(events), sum(contacts)
        FROM (SELECT company_id, campaign_id, activity_type, count(*) AS events,
                     0 AS contacts
              FROM added GROUP BY 1, 2, 3
              UNION ALL
              SELECT company_id, campaign_id, activity_type, 0, count(*)
              FROM campaign_new GROUP BY 1, 2, 3) AS d
        GROUP BY 1, 2, 3
        ON CONFLICT (campaign_id, activity_type) DO UPDATE
        SET events = t.events + excluded.events, contacts = t.contacts + excluded.contacts
    )
    INSERT INTO analytics_timeline AS t (company_id, campaign_id, activity_type, bucket, events)
    SELECT company_id, campaign_id, activity_type, bucket, count(*)
    FROM added GROUP BY 1, 2, 3, 4
    ON CONFLICT (campaign_id, activity_type, bucket) DO UPDATE
    SET events = t.events + excluded.events;

    IF NOT EXISTS (SELECT 1 FROM analytics_batch WHERE delta < 0) THEN
        RETURN folded;
    END IF;

    WITH removed AS (
        SELECT company_id, campaign_id, step_key, variant_key, activity_type, contact_id, bucket
        FROM analytics_batch WHERE delta < 0
        UNION ALL
        SELECT b.company_id, b.campaign_id, b.step_key, b.variant_key, 'stage:' || m.stage,
               b.contact_id, b.bucket
        FROM analytics_batch AS b CROSS JOIN LATERAL unnest(analytics_stages(b.activity_type)) AS m(stage)
        WHERE b.delta < 0
    ),
    remaining_raw AS (
        SELECT a.campaign_id,
               coalesce(a.message_id, '00000000-0000-0000-0000-000000000000'::uuid)
                   AS step_key,
               coalesce(a.variant, '') AS variant_key, a.activity_type, a.contact_id
        FROM campaign_activities AS a
        JOIN (SELECT DISTINCT company_id, contact_id FROM removed) AS k
          ON a.company_id = k.company_id AND a.contact_id = k.contact_id
        WHERE a.campaign_id IS NOT NULL
          AND NOT (a.activity_type = 'email_opened'
                   AND coalesce(a.metadata ->> 'prefetched', 'false') = 'true')
    ), remaining AS (
        SELECT * FROM remaining_raw
        UNION ALL
        SELECT r.campaign_id, r.step_key, r.variant_key, 'stage:' || m.stage, r.contact_id
        FROM remaining_raw AS r
        CROSS JOIN LATERAL unnest(analytics_stages(r.activity_type)) AS m(stage)
    ), step_gone AS (
        DELETE FROM analytics_step_contacts AS t
        USING (SELECT DISTINCT campaign_id, step_key, variant_key, activity_type, contact_id
               FROM removed) AS g
        WHERE t.campaign_id = g.campaign_id AND t.step_key = g.step_key
          AND t.variant_key = g.variant_key AND t.activity_type = g.activity_type
          AND t.contact_id = g.contact_id
          AND NOT EXISTS (SELECT 1 FROM remaining AS r
                          WHERE r.campaign_id = g.campaign_id AND r.step_key = g.step_key
                            AND r.variant_key = g.variant_key
                            AND r.activity_type = g.activity_type
                            AND r.contact_id = g.contact_id)
        RETURNING t.campaign_id, t.step_key, t.variant_key, t.activity_type
    ), campaign_gone AS (
        DELETE FROM analytics_campaign_contacts AS t
        USING (SELECT DISTINCT campaign_id, activity_type, contact_id FROM removed) AS g
        WHERE t.campaign_id = g.campaign_id AND t.activity_type = g.activity_type
          AND t.contact_id = g.contact_id
          AND NOT EXISTS (SELECT 1 FROM remaining AS r
                          WHERE r.campaign_id = g.campaign_id
                            AND r.activity_type = g.activity_type
                            AND r.contact_id = g.contact_id)
        RETURNING t.campaign_id, t.activity_type
    ), step_counts AS (
        UPDATE analytics_step_stats AS t
        SET events = t.events - d.events, contacts = t.contacts - d.contacts
        FROM (SELECT campaign_id, step_key, variant_key, activity_type,
                     sum(events) AS events, sum(contacts) AS contacts
              FROM (SELECT campaign_id, step_key, variant_key, activity_type,
                           count(*) AS events, 0 AS contacts
                    FROM removed GROUP BY 1, 2, 3, 4
                    UNION ALL
                    SELECT campaign_id, step_key, variant_key, activity_type, 0, count(*)
                    FROM step_gone GROUP BY 1, 2, 3, 4) AS x
              GROUP BY 1, 2, 3, 4) AS d
        WHERE t.campaign_id = d.campaign_id AND t.step_key = d.step_key
          AND t.variant_key = d.variant_key AND t.activity_type = d.activity_type
    ), campaign_counts AS (
        UPDATE analytics_campaign_stats AS t
        SET events = t.events - d.events, contacts = t.contacts - d.contacts
        FROM (SELECT campaign_id, activity_type, sum(events) AS events,
                     sum(contacts) AS contacts
              FROM (SELECT campaign_id, activity_type, count(*) AS events, 0 AS contacts
                    FROM removed GROUP BY 1, 2
                    UNION ALL
                    SELECT campaign_id, activity_type, 0, count(*)
                    FROM campaign_gone GROUP BY 1, 2) AS x
              GROUP BY 1, 2) AS d
        WHERE t.campaign_id = d.campaign_id AND t.activity_type = d.activity_type
    )
    UPDATE analytics_timeline AS t SET events = t.events - d.events
    FROM (SELECT campaign_id, activity_type, bucket, count(*) AS events
          FROM removed GROUP BY 1, 2, 3) AS d
    WHERE t.campaign_id = d.campaign_id AND t.activity_type = d.activity_type
      AND t.bucket = d.bucket;
    RETURN folded;
END $$
"""

# Activities written before this migration: queued once, folded by the worker.
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
        PERFORM analytics_enqueue(batch, 1::smallint);
        last_id := batch[cardinality(batch)].id;
    END LOOP;
END $$
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS analytics_after_insert ON campaign_activities;
DROP TRIGGER IF EXISTS analytics_after_delete ON campaign_activities;
DROP TRIGGER IF EXISTS analytics_after_update ON campaign_activities;
DROP FUNCTION IF EXISTS analytics_queue_written();
DROP FUNCTION IF EXISTS analytics_queue_removed();
DROP FUNCTION IF EXISTS analytics_queue_changed();
DROP FUNCTION IF EXISTS analytics_enqueue(campaign_activities[], smallint);
DROP FUNCTION IF EXISTS analytics_fold(integer);
DROP TABLE IF EXISTS analytics_pending;
DROP FUNCTION IF EXISTS analytics_stages(varchar);
"""


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column(
            "attribution_window_days", sa.Integer(), server_default=sa.text("30"), nullable=False
        ),
    )
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
    op.execute(STAGE_MAP)
    op.execute(PENDING_TABLE)
    op.execute(QUEUE_FUNCTIONS)
    op.execute(FOLD_FUNCTION)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(DROP_TRIGGERS)
    op.drop_column("campaigns", "attribution_window_days")
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table("analytics_timeline")
    op.drop_table("analytics_step_stats")
    op.drop_table("analytics_step_contacts")
    op.drop_table("analytics_campaign_stats")
    op.drop_table("analytics_campaign_contacts")
    # ### end Alembic commands ###
