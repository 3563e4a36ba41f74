"""Realistic, reproducible contacts for the import benchmark, written in two equivalent files.

The import CSV is what a user uploads (tags as `vip;enterprise`). The COPY CSV holds the same
contacts as rows of the `contacts` table (ids, JSON tags, the NOT NULL defaults the importer
fills in), so a bare `COPY contacts FROM STDIN` stores exactly what the import stores.
"""

from __future__ import annotations

import csv
import json
import random
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IMPORT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "job_title",
    "industry",
    "company_size",
    "timezone",
    "lifecycle_stage",
    "lead_source",
    "opt_in_status",
    "tags",
)
# The import columns plus what the importer adds: the id, the tenant and the NOT NULL columns
# that have no server default.
COPY_COLUMNS = (
    "id",
    "company_id",
    *IMPORT_COLUMNS,
    "do_not_contact",
    "custom_fields",
    "lead_score",
)

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "Wei", "Priya", "Ahmed", "Fatima", "José", "María", "Zoë", "Björn", "Chloé",
    "Kenji", "Aisha", "Mateo", "Sofía", "Liam", "Olivia", "Noah", "Emma", "Lucas", "Amélie",
    "Oluwaseun", "Siobhán", "Dmitri", "Yuki", "Camille", "Rahul", "Ingrid",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Rodríguez",
    "Martínez", "Müller", "O'Brien", "Nguyen", "Kim", "Patel", "Chen", "Kowalski", "Rossi",
    "Dubois", "Schmidt", "Tanaka", "Okafor", "Andersson", "Van der Berg", "Haddad", "Silva",
    "Novak", "Lefèvre", "MacDonald", "Ivanova",
)  # fmt: skip
# (company name, e-mail domain); some names hold commas so the CSV needs quoting.
COMPANIES = (
    ("Acme, Inc.", "acme.com"), ("Globex Corporation", "globex.com"),
    ("Initech", "initech.io"), ("Umbrella Health", "umbrella-health.com"),
    ("Stark Industries", "stark.com"), ("Wayne Enterprises", "wayne.co"),
    ("Hooli", "hooli.xyz"), ("Pied Piper", "piedpiper.com"),
    ("Soylent Foods, LLC", "soylent.com"), ("Tyrell Systems", "tyrell.ai"),
    ("Cyberdyne", "cyberdyne.net"), ("Massive Dynamic", "massivedynamic.com"),
    ("Vandelay Industries", "vandelay.com"), ("Bluth & Sons", "bluth.com"),
    ("Nordwind GmbH", "nordwind.de"), ("Société Générale du Nord", "sgn.fr"),
    ("Sakura Trading K.K.", "sakura-trading.jp"), ("Andes Logística", "andeslog.com.br"),
)  # fmt: skip
FREE_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me")
JOB_TITLES = (
    "CEO", "CTO", "VP Sales", "VP Marketing", "Head of Growth", "Marketing Manager",
    "Sales Director", "Account Executive", "Software Engineer", "Operations Manager",
    "Procurement Lead", "Customer Success Manager", "Founder", "Product Manager",
)  # fmt: skip
INDUSTRIES = (
    "Software", "Healthcare", "Manufacturing", "Retail", "Financial Services", "Education",
    "Logistics", "Real Estate", "Media", "Energy",
)  # fmt: skip
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1000+")
TIMEZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Europe/Paris", "Asia/Tokyo",
    "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney", "UTC",
)  # fmt: skip
LIFECYCLE_STAGES = (("lead", 55), ("mql", 20), ("sql", 15), ("customer", 10))
LEAD_SOURCES = ("website", "webinar", "trade show", "referral", "linkedin", "cold outreach")
OPT_IN_STATUSES = (("unknown", 60), ("opted_in", 40))
TAGS = ("vip", "enterprise", "smb", "newsletter", "partner", "trial", "churn-risk", "q3-campaign")
# Real US area codes; a local number's first digit is 2-9, which makes every number valid.
AREA_CODES = ("415", "212", "646", "312", "617", "206", "512", "303", "404", "305")
_LOCAL_NUMBERS = 8_000_000


@dataclass(frozen=True)
class FakeContact:
    first_name: str
    last_name: str
    email: str
    phone: str | None
    company_name: str
    job_title: str | None
    industry: str
    company_size: str | None
    timezone: str
    lifecycle_stage: str
    lead_source: str
    opt_in_status: str
    tags: tuple[str, ...]


def _ascii_slug(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalpha())


def _unique_phones(rng: random.Random, count: int) -> list[str]:
    """`count` distinct E.164 numbers, drawn without replacement from the area codes."""
    picks = rng.sample(range(len(AREA_CODES) * _LOCAL_NUMBERS), count)
    return [
        f"+1{AREA_CODES[pick // _LOCAL_NUMBERS]}{2_000_000 + pick % _LOCAL_NUMBERS}"
        for pick in picks
    ]


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    values = [value for value, _ in options]
    weights = [weight for _, weight in options]
    return rng.choices(values, weights)[0]


def _maybe(rng: random.Random, value: str, present: float) -> str | None:
    """Real uploads have holes: the value, or None (an empty cell) now and then."""
    return value if rng.random() < present else None


def _contact(rng: random.Random, number: int, phone: str) -> FakeContact:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company, company_domain = rng.choice(COMPANIES)
    domain = rng.choice(FREE_MAIL_DOMAINS) if rng.random() < 0.2 else company_domain
    return FakeContact(
        first_name=first,
        last_name=last,
        # Names hold no digits, so the running number alone makes the address unique.
        email=f"{_ascii_slug(first)}.{_ascii_slug(last)}{number}@{domain}",
        phone=_maybe(rng, phone, 0.95),
        company_name=company,
        job_title=_maybe(rng, rng.choice(JOB_TITLES), 0.9),
        industry=rng.choice(INDUSTRIES),
        company_size=_maybe(rng, rng.choice(COMPANY_SIZES), 0.8),
        timezone=rng.choice(TIMEZONES),
        lifecycle_stage=_weighted(rng, LIFECYCLE_STAGES),
        lead_source=rng.choice(LEAD_SOURCES),
        opt_in_status=_weighted(rng, OPT_IN_STATUSES),
        tags=tuple(rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2, 3)))),
    )


def generate(count: int, seed: int) -> list[FakeContact]:
    # Seeded for reproducible data; not for security (S311 is off for bench/ in pyproject).
    rng = random.Random(seed)
    phones = _unique_phones(rng, count)
    return [_contact(rng, number, phones[number]) for number in range(count)]


def write_import_csv(contacts: Iterable[FakeContact], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(IMPORT_COLUMNS)
        for c in contacts:
            writer.writerow(_import_cells(c))


def _import_cells(c: FakeContact) -> tuple[str | None, ...]:
    return (
        c.first_name, c.last_name, c.email, c.phone, c.company_name, c.job_title, c.industry,
        c.company_size, c.timezone, c.lifecycle_stage, c.lead_source, c.opt_in_status,
        ";".join(c.tags),
    )  # fmt: skip


def write_copy_csv(
    contacts: Iterable[FakeContact], company_id: uuid.UUID, seed: int, path: Path
) -> None:
    """The same contacts as `contacts` rows; an empty unquoted cell is NULL to COPY."""
    rng = random.Random(seed)  # the ids only need to be distinct and reproducible
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COPY_COLUMNS)
        for c in contacts:
            contact_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            cells = list(_import_cells(c))
            cells[-1] = json.dumps(list(c.tags))
            writer.writerow([contact_id, company_id, *cells, "false", "{}", 0])
