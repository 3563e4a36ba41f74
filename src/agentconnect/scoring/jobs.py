"""Scoring again after a significant interaction, debounced through the job queue.

The job is written inside the caller's transaction (a transactional outbox): if the request
rolls back, no job exists; if it commits, the job is there. A `queueing_lock` per contact
keeps one waiting job at most, and the delay gathers a burst of interactions into one run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

RESCORE_TASK = "agentconnect.worker.rescore_contacts"
RESCORE_DELAY_SECONDS = 30

_ENQUEUE = """
INSERT INTO procrastinate_jobs
    (queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at)
SELECT 'scoring', :task, 0, NULL, 'rescore:' || :company_id || ':' || contact_id,
       jsonb_build_object('company_id', :company_id, 'contact_ids', jsonb_build_array(contact_id)),
       now() + make_interval(secs => :delay)
FROM unnest(CAST(:contact_ids AS text[])) AS contact_id
ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
"""


async def schedule_rescore(
    session: AsyncSession, company_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> None:
    if not contact_ids:
        return
    await session.execute(
        text(_ENQUEUE),
        {
            "task": RESCORE_TASK,
            "company_id": str(company_id),
            "contact_ids": [str(c) for c in dict.fromkeys(contact_ids)],
            "delay": RESCORE_DELAY_SECONDS,
        },
    )
