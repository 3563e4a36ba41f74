"""Demo data: a company with users and contacts in varied stages, sources, tags and time zones."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.auth.secrets import hash_password
from agentconnect.campaigns import schemas as campaign_schemas
from agentconnect.campaigns import service as campaigns
from agentconnect.leads import schemas as lead_schemas
from agentconnect.leads import service as leads
from agentconnect.models import (
    ActivityType,
    ApiKey,
    CampaignActivity,
    CampaignContact,
    CampaignType,
    Company,
    Contact,
    DelayUnit,
    EnrollmentStatus,
    GoalType,
    Lead,
    LeadStage,
    LifecycleStage,
    OptInStatus,
    Role,
    User,
)
from agentconnect.scoring import service as scoring
from agentconnect.tenancy import schemas as tenancy_schemas
from agentconnect.tenancy import service as tenancy

DEMO_COMPANY = "Northwind Demo"
DEMO_EMAIL = "demo@agentconnect.example"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a published demo login, by design
DEMO_KEY_NAME = "demo key"

_FIRST = [
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Zoe",
    "Ethan",
    "Lena",
    "Omar",
    "Priya",
    "Kenji",
    "Sofia",
    "Lucas",
    "Amara",
    "Mateo",
    "Hana",
    "Felix",
    "Nora",
    "Ravi",
    "Elif",
    "Jonas",
]
_LAST = [
    "Nguyen",
    "Schmidt",
    "Garcia",
    "Okafor",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Silva",
    "Dubois",
    "Haddad",
    "Larsen",
    "Patel",
    "Moreau",
    "Novak",
    "Kim",
    "Fischer",
]
_COMPANIES = [
    "Acme Robotics",
    "Blue Harbor Logistics",
    "Cedar Health",
    "Delta Fintech",
    "Evergreen Foods",
    "Fjord Energy",
    "Granite Insurance",
    "Helio Solar",
    "Ion Telecom",
    "Juniper Retail",
    "Keystone Legal",
    "Lumen Analytics",
]
_INDUSTRIES = ["software", "logistics", "healthcare", "finance", "retail", "energy", "insurance"]
_TITLES = [
    "CEO",
    "CTO",
    "VP Sales",
    "Head of Marketing",
    "Operations Manager",
    "Engineer",
    "Procurement Lead",
    "Founder",
    "Analyst",
]
_SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
_SOURCES = ["website", "referral", "webinar", "cold_call", "linkedin", "trade_show", "ai_agent"]
_TAGS = ["vip", "enterprise", "smb", "newsletter", "webinar-2026", "trial", "partner", "churn-risk"]
_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
]
_STAGES = [
    (LifecycleStage.SUBSCRIBER, 15),
    (LifecycleStage.LEAD, 35),
    (LifecycleStage.MQL, 20),
    (LifecycleStage.SQL, 12),
    (LifecycleStage.OPPORTUNITY, 8),
    (LifecycleStage.CUSTOMER, 8),
    (LifecycleStage.EVANGELIST, 2),
]


@dataclass(frozen=True)
class DemoLogin:
    company_id: str
    email: str
    password: str
    api_key: str
    created: bool


def demo_contacts(count: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not security
    now = datetime.now(UTC)
    stages, weights = zip(*_STAGES, strict=True)
    rows = []
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        opted_out = rng.random() < 0.05
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "email": f"{first}.{last}.{i}@example.com".lower(),
                "phone": f"+1415555{i:04d}" if rng.random() < 0.8 else None,
                "company_name": rng.choice(_COMPANIES),
                "job_title": rng.choice(_TITLES),
                "industry": rng.choice(_INDUSTRIES),
                "company_size": rng.choice(_SIZES),
                "timezone": rng.choice(_ZONES),
                "lifecycle_stage": rng.choices(stages, weights)[0],
                "lead_source": rng.choice(_SOURCES),
                "opt_in_status": OptInStatus.OPTED_OUT
                if opted_out
                else rng.choice(
                    [
                        OptInStatus.OPTED_IN,
                        OptInStatus.OPTED_IN,
                        OptInStatus.UNKNOWN,
                        OptInStatus.PENDING,
                    ]
                ),
                "do_not_contact": rng.random() < 0.03,
                "tags": rng.sample(_TAGS, rng.randint(0, 3)),
                "custom_fields": {"plan": rng.choice(["free", "pro", "enterprise"])},
                "lead_score": rng.randint(0, 100),
                "last_contacted_at": now - timedelta(days=rng.randint(0, 90))
                if rng.random() < 0.6
                else None,
            }
        )
    return rows


async def _welcome_campaign(
    session: AsyncSession, company_id: uuid.UUID, admin_id: uuid.UUID
) -> None:
    """An active two-step email campaign for the webinar attendees, so that the worker `make
    run` starts has something to send (to the console outbox) from the first minute."""
    admin = Principal(company_id=company_id, role=Role.ADMIN, user_id=admin_id)
    campaign = await campaigns.create_campaign(
        session,
        admin,
        campaign_schemas.CampaignCreate(
            name="Webinar follow-up",
            campaign_type=CampaignType.EMAIL,
            goal_type=GoalType.REPLY,
            target_criteria=campaign_schemas.TargetCriteria(tags_any=["webinar-2026"]),
        ),
    )
    await campaigns.add_step(
        session,
        admin,
        campaign.id,
        campaign_schemas.StepCreate(
            delay_value=0,
            delay_unit=DelayUnit.MINUTES,
            subject="Thanks for joining the webinar, {{first_name|there}}",
            body="Hi {{first_name|there}},\n\nthe recording is at https://example.com/webinar."
            "\n\nReply to this e-mail if {{company_name|your team}} wants a walkthrough.",
        ),
    )
    await campaigns.add_step(
        session,
        admin,
        campaign.id,
        campaign_schemas.StepCreate(
            delay_value=2,
            delay_unit=DelayUnit.DAYS,
            subject="A question, {{first_name|there}}",
            body="Did the webinar answer your questions? https://example.com/book-a-call",
        ),
    )
    await campaigns.transition(session, admin, campaign.id, "start")


# Where the demo's leads stand: the pipeline board shows every column from the first minute.
_LEAD_PATHS: list[tuple[LeadStage, ...]] = [
    (LeadStage.LEAD,),
    (LeadStage.LEAD, LeadStage.MQL),
    (LeadStage.LEAD, LeadStage.MQL, LeadStage.SQL),
    (LeadStage.LEAD, LeadStage.MQL, LeadStage.SQL, LeadStage.OPPORTUNITY),
    (LeadStage.LEAD, LeadStage.MQL, LeadStage.SQL, LeadStage.OPPORTUNITY, LeadStage.CUSTOMER),
    (LeadStage.LEAD, LeadStage.MQL, LeadStage.LOST),
]


async def _demo_leads(
    session: AsyncSession, company_id: uuid.UUID, admin_id: uuid.UUID, count: int = 36
) -> None:
    """Leads for some contacts, walked through the pipeline by the same service the API uses
    (so each one has its stage history), valued and shared between the two agents."""
    admin = Principal(company_id=company_id, role=Role.ADMIN, user_id=admin_id)
    rng = random.Random(11)  # noqa: S311 - demo figures, not secrets
    agents = list(
        await session.scalars(
            select(User.id)
            .where(User.company_id == company_id, User.role == Role.AGENT)
            .order_by(User.email)
        )
    )
    contact_ids = list(
        await session.scalars(
            select(Contact.id)
            .where(Contact.company_id == company_id, Contact.email.is_not(None))
            .order_by(Contact.email)
            .limit(count)
        )
    )
    for n, contact_id in enumerate(contact_ids):
        lead = await leads.create_lead(
            session,
            admin,
            lead_schemas.LeadCreate(
                contact_id=contact_id,
                deal_value=Decimal(rng.randrange(20, 400) * 250),
                assigned_to=agents[n % len(agents)] if agents and n % 5 else None,
            ),
        )
        for stage in _LEAD_PATHS[n % len(_LEAD_PATHS)][1:]:
            reason = "went with a competitor" if stage == LeadStage.LOST else None
            await leads.change_stage(
                session, admin, lead.id, lead_schemas.StageChangeRequest(stage=stage, reason=reason)
            )


async def _launch_campaign_history(
    session: AsyncSession, company_id: uuid.UUID, admin_id: uuid.UUID
) -> None:
    """A campaign that ran last week: the lead contacts were mailed, and some opened, clicked
    and replied. Its enrollments are complete and the campaign paused, so the worker sends
    nothing more; its analytics and the leads' engagement scores have something to show."""
    admin = Principal(company_id=company_id, role=Role.ADMIN, user_id=admin_id)
    campaign = await campaigns.create_campaign(
        session,
        admin,
        campaign_schemas.CampaignCreate(
            name="Q3 product launch",
            campaign_type=CampaignType.EMAIL,
            goal_type=GoalType.REPLY,
            cost=Decimal("450.00"),
        ),
    )
    step = await campaigns.add_step(
        session,
        admin,
        campaign.id,
        campaign_schemas.StepCreate(
            delay_value=0,
            delay_unit=DelayUnit.MINUTES,
            subject="What's new this quarter, {{first_name|there}}",
            body="Hi {{first_name|there}}, three things shipped this quarter: "
            "https://example.com/launch",
        ),
    )
    people = list(
        await session.scalars(
            select(Lead.contact_id).where(Lead.company_id == company_id).order_by(Lead.id)
        )
    )
    await campaigns.enroll(session, admin, campaign.id, people)
    await campaigns.transition(session, admin, campaign.id, "start")
    # only those enrolled were mailed (the opted-out and do-not-contact ones were skipped)
    people = list(
        await session.scalars(
            select(CampaignContact.contact_id)
            .where(
                CampaignContact.company_id == company_id,
                CampaignContact.campaign_id == campaign.id,
            )
            .order_by(CampaignContact.contact_id)
        )
    )
    rng = random.Random(5)  # noqa: S311 - demo figures, not secrets
    now = datetime.now(UTC)
    activities = []
    for contact_id in people:
        sent = now - timedelta(days=rng.randint(3, 8), hours=rng.randint(0, 23))
        steps = [(ActivityType.EMAIL_SENT, timedelta(0))]
        if rng.random() < 0.7:
            steps.append((ActivityType.EMAIL_OPENED, timedelta(hours=rng.randint(1, 20))))
            if rng.random() < 0.45:
                steps.append((ActivityType.EMAIL_CLICKED, timedelta(hours=21)))
            if rng.random() < 0.3:
                steps.append((ActivityType.EMAIL_REPLIED, timedelta(hours=22)))
        activities += [
            {"company_id": company_id, "campaign_id": campaign.id, "contact_id": contact_id,
             "message_id": step.id, "activity_type": kind, "occurred_at": sent + after,
             "details": {}}
            for kind, after in steps
        ]  # fmt: skip
    await session.execute(insert(CampaignActivity), activities)
    await session.execute(
        update(CampaignContact)
        .where(CampaignContact.company_id == company_id, CampaignContact.campaign_id == campaign.id)
        .values(status=EnrollmentStatus.COMPLETED, completed_at=now, next_step_at=None)
    )
    await campaigns.transition(session, admin, campaign.id, "pause")


async def ensure_demo(session: AsyncSession, contacts: int = 250) -> DemoLogin:
    """Create the demo company once; on every call, replace the demo API key with a fresh one.

    API keys are stored only as hashes, so a key cannot be shown again after a restart; a new
    one is issued instead and the previous demo key is revoked.
    """
    admin = await session.scalar(select(User).where(User.email == DEMO_EMAIL))
    created = admin is None
    if admin is None:
        new = await tenancy.create_company(
            session,
            name=DEMO_COMPANY,
            admin_email=DEMO_EMAIL,
            admin_password=DEMO_PASSWORD,
            admin_name="Dana Demo",
        )
        admin = new.admin
        company: Company = new.company
        for email, name, role in [
            ("manager@agentconnect.example", "Max Manager", Role.MANAGER),
            ("agent1@agentconnect.example", "Alex Agent", Role.AGENT),
            ("agent2@agentconnect.example", "Sam Seller", Role.AGENT),
        ]:
            session.add(
                User(
                    company_id=company.id,
                    email=email,
                    name=name,
                    role=role,
                    password_hash=hash_password(DEMO_PASSWORD),
                )
            )
        rows = demo_contacts(contacts)
        await session.execute(insert(Contact), [{**row, "company_id": company.id} for row in rows])
        await session.flush()
        await _welcome_campaign(session, company.id, admin.id)
        # Last: a stage change expires the session's objects (company and admin included).
        company_id, admin_id = company.id, admin.id
        await _demo_leads(session, company_id, admin_id)
        await _launch_campaign_history(session, company_id, admin_id)
        await scoring.qualify_all(session, company_id)  # scores with their factors
        admin = await session.get_one(User, admin_id)
    await session.execute(
        update(ApiKey)
        .where(ApiKey.company_id == admin.company_id, ApiKey.revoked_at.is_(None))
        .where(ApiKey.name.in_([DEMO_KEY_NAME, "initial admin key"]))
        .values(revoked_at=datetime.now(UTC))
    )
    key, _ = await tenancy.create_api_key(
        session,
        Principal(company_id=admin.company_id, role=Role.ADMIN, user_id=admin.id),
        tenancy_schemas.ApiKeyCreate(name=DEMO_KEY_NAME, role=Role.ADMIN),
    )
    return DemoLogin(str(admin.company_id), DEMO_EMAIL, DEMO_PASSWORD, key, created)
