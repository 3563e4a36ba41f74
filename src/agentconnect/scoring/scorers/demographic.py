"""Fit: company size, industry and job title against the company's demographic rules."""

from __future__ import annotations

from agentconnect.scoring.config import DemographicRules
from agentconnect.scoring.facts import Factor, LeadFacts, Scored


def score(facts: LeadFacts, rules: DemographicRules) -> Scored | None:
    # Answers given during qualification win over what the contact record says.
    data = facts.qualification_data
    if data:
        size = data.get("company_size") or facts.company_size
        industry = data.get("industry") or facts.industry
        title = data.get("job_title") or facts.job_title
    else:
        size, industry, title = facts.company_size, facts.industry, facts.job_title
    if not (size or industry or title):
        return None
    factors = []
    total = 0
    if size:
        points = rules.company_size.get(size.strip(), 0)
        total += points
        factors.append(Factor("company_size", points, f"company size {size}"))
    if industry:
        points = rules.industry.get(industry.strip().lower(), rules.other_industry)
        total += points
        factors.append(Factor("industry", points, f"industry {industry}"))
    if title:
        best = rules.title_rule(title)
        if best:
            total += best[0]
            factors.append(Factor("job_title", best[0], f"'{best[1]}' in job title {title!r}"))
        else:
            factors.append(Factor("job_title", 0, f"no rule for job title {title!r}"))
    return Scored(round(min(100.0, total)), factors)
