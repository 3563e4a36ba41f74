"""the event outbox, outbound webhook endpoints and deliveries, automation rules and runs

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Activities are written in many places (the engine, provider callbacks on a bare connection,
# tracking, the activity API): the events they imply are emitted by the database itself, in
# the same transaction, by a row trigger that fires only for the types that make an event
# (the WHEN clause: bulk `enrolled` rows never enter the function).
EVENT_ACTIVITY_TYPES = (
    "email_delivered", "sms_delivered", "whatsapp_delivered",
    "email_replied", "sms_replied", "whatsapp_replied",
    "meeting_scheduled", "email_unsubscribed",
    "email_complained", "sms_opted_out", "goal_achieved",
    "email_clicked", "link_clicked", "form_submitted", "call_completed", "deal_won", "deal_lost",
)  # fmt: skip

# An event is written only when something of the company listens for its type: an enabled
# webhook endpoint subscribed to it or an enabled automation rule triggered by it. Writing
# none otherwise keeps the hot paths as they were for the many companies with neither
# (a Twilio status callback, a bulk stage change, a scoring pass write no outbox rows).
# PL/pgSQL, not SQL: a SQL function called from the trigger is planned again on every call
# (0.12 ms more per activity written); PL/pgSQL keeps its plans for the session (0.03 ms).
EVENT_WANTED_FUNCTION = """
CREATE FUNCTION event_wanted(company uuid, kind text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM webhook_endpoints AS w
                   WHERE w.company_id = company AND w.enabled
                     AND w.event_types @> to_jsonb(kind))
        OR EXISTS (SELECT 1 FROM automation_rules AS r
                   WHERE r.company_id = company AND r.enabled AND r.event_type = kind);
END
$$
"""

ACTIVITY_EVENTS_FUNCTION = """
CREATE FUNCTION campaign_activity_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    who jsonb;
BEGIN
    kind := CASE
        WHEN NEW.activity_type IN ('email_delivered', 'sms_delivered', 'whatsapp_delivered')
            THEN 'message.delivered'
        WHEN NEW.activity_type IN ('email_replied', 'sms_replied', 'whatsapp_replied')
            THEN 'message.replied'
        WHEN NEW.activity_type = 'meeting_scheduled' THEN 'meeting.scheduled'
        WHEN NEW.activity_type IN ('email_unsubscribed', 'email_complained', 'sms_opted_out')
            THEN 'contact.opted_out'
        WHEN NEW.activity_type = 'goal_achieved' THEN 'enrollment.goal_achieved'
        ELSE 'activity.recorded'
    END;
    IF NOT event_wanted(NEW.company_id, kind) THEN
        RETURN NULL;
    END IF;
    SELECT jsonb_build_object(
        'id', c.id, 'email', c.email, 'phone', c.phone, 'first_name', c.first_name,
        'last_name', c.last_name, 'opt_in_status', c.opt_in_status, 'tags', c.tags)
    INTO who FROM contacts AS c WHERE c.company_id = NEW.company_id AND c.id = NEW.contact_id;
    INSERT INTO events (id, company_id, event_type, lead_id, contact_id, payload, depth)
    VALUES (
        uuid_v7(), NEW.company_id, kind, NEW.lead_id, NEW.contact_id,
        jsonb_build_object(
            'activity', jsonb_build_object(
                'id', NEW.id, 'activity_type', NEW.activity_type,
                'occurred_at', NEW.occurred_at, 'campaign_id', NEW.campaign_id,
                'lead_id', NEW.lead_id, 'metadata', NEW.metadata),
            'contact', coalesce(who, jsonb_build_object('id', NEW.contact_id))),
        coalesce(nullif(current_setting('agentconnect.event_depth', true), ''), '0')::smallint
    );
    RETURN NULL;
END
$$
"""

ACTIVITY_EVENTS_TRIGGER = (
    "CREATE TRIGGER campaign_activities_events AFTER INSERT ON campaign_activities"
    " FOR EACH ROW WHEN (NEW.activity_type IN ("
    + ", ".join(f"'{t}'" for t in EVENT_ACTIVITY_TYPES)
    + ")) EXECUTE FUNCTION campaign_activity_event()"
)


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_automation_rules_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rules")),
    )
    op.create_index(
        op.f("ix_automation_rules_company_id_created_at"),
        "automation_rules",
        ["company_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_automation_rules_listening",
        "automation_rules",
        ["company_id", "event_type"],
        unique=False,
        postgresql_where=sa.text("enabled"),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=True),
        sa.Column("contact_id", sa.UUID(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("depth", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("fanned_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("automated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_events_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_events_seq")),
    )
    op.create_index(
        op.f("ix_events_company_id_lead_id_seq"),
        "events",
        ["company_id", "lead_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_events_company_id_occurred_at"),
        "events",
        ["company_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_events_to_automate",
        "events",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("automated_at IS NULL"),
    )
    op.create_index(
        "ix_events_to_fan_out",
        "events",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_types", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_webhook_endpoints_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        op.f("ix_webhook_endpoints_company_id_created_at"),
        "webhook_endpoints",
        ["company_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "automation_runs",
        sa.Column("rule_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("actions_done", sa.SmallInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_automation_runs_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_automation_runs_event_id_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["automation_rules.id"],
            name=op.f("fk_automation_runs_rule_id_automation_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
    )
    op.create_index(
        op.f("ix_automation_runs_company_id_rule_id_created_at"),
        "automation_runs",
        ["company_id", "rule_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("ordering_key", sa.UUID(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_webhook_deliveries_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_webhook_deliveries_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_company_id_endpoint_id_created_at"),
        "webhook_deliveries",
        ["company_id", "endpoint_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_event_id"), "webhook_deliveries", ["event_id"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_leases",
        "webhook_deliveries",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_open_per_key",
        "webhook_deliveries",
        ["endpoint_id", "ordering_key", "seq"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.execute(EVENT_WANTED_FUNCTION)
    op.execute(ACTIVITY_EVENTS_FUNCTION)
    op.execute(ACTIVITY_EVENTS_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS campaign_activities_events ON campaign_activities")
    op.execute("DROP FUNCTION IF EXISTS campaign_activity_event()")
    op.execute("DROP FUNCTION IF EXISTS event_wanted(uuid, text)")
    op.drop_index(
        "ix_webhook_deliveries_open_per_key",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.drop_index(
        "ix_webhook_deliveries_leases",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.drop_index(op.f("ix_webhook_deliveries_event_id"), table_name="webhook_deliveries")
    op.drop_index(
        "ix_webhook_deliveries_due",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        op.f("ix_webhook_deliveries_company_id_endpoint_id_created_at"),
        table_name="webhook_deliveries",
    )
    op.drop_table("webhook_deliveries")
    op.drop_index(
        op.f("ix_automation_runs_company_id_rule_id_created_at"), table_name="automation_runs"
    )
    op.drop_table("automation_runs")
    op.drop_index(
        op.f("ix_webhook_endpoints_company_id_created_at"), table_name="webhook_endpoints"
    )
    op.drop_table("webhook_endpoints")
    op.drop_index(
        "ix_events_to_fan_out",
        table_name="events",
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    )
    op.drop_index(
        "ix_events_to_automate",
        table_name="events",
        postgresql_where=sa.text("automated_at IS NULL"),
    )
    op.drop_index(op.f("ix_events_company_id_occurred_at"), table_name="events")
    op.drop_index(op.f("ix_events_company_id_lead_id_seq"), table_name="events")
    op.drop_table("events")
    op.drop_index(
        "ix_automation_rules_listening",
        table_name="automation_rules",
        postgresql_where=sa.text("enabled"),
    )
    op.drop_index(op.f("ix_automation_rules_company_id_created_at"), table_name="automation_rules")
    op.drop_table("automation_rules")
