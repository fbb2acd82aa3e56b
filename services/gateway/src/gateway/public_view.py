"""What the gateway shows of a job: the stored record with every secret masked, in one place.

A job's record keeps its request as submitted, credentials and signed query strings included
(`https://user:pw@host/a.mp4?token=…`): its worker needs them, and so do a retry and its follow-ups. Whatever
leaves the gateway passes through here instead: every string of the job (its request, result, errors,
progress), of a bulk job's items, of a dead letter, and a schedule's request read as
`jobcommon.redaction.redact` rewrites them, `https://***@host/a.mp4?token=***`.

The types below are what the routes and response models declare (`PublicJob` in place of `Job`): the
masking is part of their serialization, so a route cannot return a job the unmasked way by forgetting a
call, and the API's schema stays the job's own.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, PlainSerializer

from jobcommon import DeadLetter, ItemRecord, Job
from jobcommon.redaction import may_hold_secret, redact, redact_data
from jobcommon.schedules import ScheduleView

M = TypeVar("M", bound=BaseModel)


def masked(model: M) -> M:
    """`model` with every string in it redacted; the same object when none holds a secret."""
    if not may_hold_secret(model.model_dump_json()):
        return model  # the common case, decided at the cost of one JSON dump
    data = model.model_dump()
    clean = redact_data(data)
    return model if clean is data else type(model).model_validate(clean)


def masked_schedule(view: ScheduleView) -> ScheduleView:
    """A schedule with its job's request and its last problem masked: copied, not validated again (its
    request was checked as a job when the schedule was made; a masked URL is no job to check)."""
    request = redact_data(view.request)
    problem = None if view.last_problem is None else redact(view.last_problem)
    if request is view.request and problem == view.last_problem:
        return view
    return view.model_copy(update={"request": request, "last_problem": problem})


def public_json(job: Job) -> dict[str, Any]:
    """The job as the API shows it, as JSON data (for a Server-Sent Event)."""
    return masked(job).model_dump(mode="json")


PublicJob = Annotated[Job, PlainSerializer(masked, return_type=Job)]
"""A job as the API shows it (secrets masked)."""
PublicItem = Annotated[ItemRecord, PlainSerializer(masked, return_type=ItemRecord)]
"""A bulk or playlist item as the API shows it: its item (a URL), result and error masked."""
PublicDeadLetter = Annotated[DeadLetter, PlainSerializer(masked, return_type=DeadLetter)]
"""A dead letter as the API shows it (its job masked)."""
PublicSchedule = Annotated[ScheduleView, PlainSerializer(masked_schedule, return_type=ScheduleView)]
"""A schedule as the API shows it (the request its ticks submit masked)."""
PublicData = Annotated[dict[str, Any], PlainSerializer(redact_data, return_type=dict[str, Any])]
"""A job's result as the API shows it (secrets masked)."""
