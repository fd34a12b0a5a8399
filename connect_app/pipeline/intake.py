"""The half of every door that is the same: admit a normalised event as a durable job, exactly once.

A door authenticates and parses; then :func:`admit` applies the site's settings, claims the event's
dedupe key, applies the per-person and per-site rate limits, and enqueues it (journal first). If
the enqueue fails the claim (and the rate-limit count) is released, so the platform's retry is
accepted instead of lost.

A request over a limit never reaches the model: the first refused request of the window gets a
cheap ``rate_limited`` job (a polite reply saying when to ask again, no classification, no LLM);
the rest of the window's refusals are dropped, each logged and counted (``rate_limited``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..jobs.queue import JobQueue
from ..models import AiEvent
from ..storage.dedupe import DedupeRepo
from ..storage.site_settings import SiteSettingsRepo
from .events import dedupe_key
from .language import detect_language
from .rate_limit import RATE_LIMITED, RateLimiter, Verdict

log = logging.getLogger(__name__)

#: Event kinds that reach the model, hence count against the rate limits.
LIMITED_KINDS = frozenset({"comment", "issue_done"})


@dataclass(frozen=True)
class Admission:
    """What became of an event: ``accepted`` (with a job id), ``duplicate``, ``ignored``, ``unavailable``,
    or ``rate_limited`` (``reason`` names the limit; ``job_id`` is the polite reply's job, if one was due).
    """

    status: str
    reason: str | None = None
    job_id: str | None = None
    retry_after: int | None = None


def admit(
    event: AiEvent,
    *,
    site_settings: SiteSettingsRepo,
    dedupe: DedupeRepo,
    queue: JobQueue,
    limiter: RateLimiter | None = None,
) -> Admission:
    """Filter by the site's settings, claim the dedupe key, apply the rate limits and enqueue.

    Never raises for a queue failure. A redelivery is a ``duplicate`` before it is counted, so
    platform retries never use up anyone's allowance; neither do the app's own events.
    """
    started = time.perf_counter()
    site = site_settings.get(event.tenant_id)
    if not site.project_enabled(event.project_key):
        log.info("%s event dropped: @ai is off in project %s", event.door, event.project_key)
        return Admission("ignored", reason="project_disabled")
    if event.kind == "issue_done" and not site.resolution_summary_on_done:
        return Admission("ignored", reason="resolution_summary_off")
    key = dedupe_key(event)
    event.delivery_id = event.delivery_id or key
    if not dedupe.claim(key):
        log.info("%s event repeats an accepted one (retry, replay or edit); ignored", event.door)
        return Admission("duplicate")
    verdict = None
    if limiter is not None and counts(event):
        verdict = limiter.check(event.tenant_id, event.author_account_id)
        if not verdict.allowed:
            return refuse(event, verdict, limiter=limiter, queue=queue, dedupe=dedupe, key=key)
    try:
        job_id = queue.enqueue(event)
    except Exception:
        dedupe.release(key)
        if limiter is not None:
            limiter.give_back(verdict)
        log.exception("could not enqueue; the platform will retry the delivery")
        return Admission("unavailable")
    _confirm(dedupe, key)
    log.info("accepted %s %s on %s as job %s in %.1f ms", event.door, event.kind, event.issue_key, job_id,
             (time.perf_counter() - started) * 1000)
    return Admission("accepted", job_id=job_id)


def _confirm(dedupe: DedupeRepo, key: str) -> None:
    """Make the claim last; if the store fails now, the short claim expires and the reply marker guards."""
    try:
        dedupe.confirm(key)
    except Exception:
        log.warning("could not confirm the dedupe claim; it expires soon, the reply marker prevents repeats")


def counts(event: AiEvent) -> bool:
    """True when the event is a request to the model from a person (the app's own events never count)."""
    return event.kind in LIMITED_KINDS and not event.extra.get("by_app")


def refuse(
    event: AiEvent, verdict: Verdict, *, limiter: RateLimiter, queue: JobQueue, dedupe: DedupeRepo, key: str
) -> Admission:
    """Refuse an event over a limit: queue the window's one polite reply, or drop it (logged, counted)."""
    lim = verdict.refused_by
    assert lim is not None
    refused = Admission(RATE_LIMITED, reason=lim.name, retry_after=verdict.retry_after)
    if event.kind != "comment" or not limiter.claim_notice(event.tenant_id, event.author_account_id, verdict):
        _confirm(dedupe, key)
        log.info("%s %s on %s dropped: over the %s rate limit for %d s more (already told this window)",
                 event.door, event.kind, event.issue_key, lim.name, verdict.retry_after)
        return refused
    notice = AiEvent(
        tenant_id=event.tenant_id, door=event.door, kind=RATE_LIMITED,
        delivery_id=f"{event.delivery_id}:{RATE_LIMITED}",
        issue_key=event.issue_key, issue_id=event.issue_id, project_key=event.project_key,
        comment_id=event.comment_id, author_account_id=event.author_account_id, author_name=event.author_name,
        received_at=event.received_at, source=event.source,
        extra={"limit": lim.name, "per": lim.per, "window": lim.window_words, "retry_at": verdict.retry_at,
               "language": detect_language(event.text)},
    )
    try:
        job_id = queue.enqueue(notice)
    except Exception:
        limiter.release_notice(event.tenant_id, event.author_account_id, verdict)
        dedupe.release(key)
        log.exception("could not enqueue the rate-limit reply; the platform will retry the delivery")
        return Admission("unavailable")
    _confirm(dedupe, key)
    log.info("%s %s on %s refused: over the %s rate limit for %d s; one reply queued as job %s",
             event.door, event.kind, event.issue_key, lim.name, verdict.retry_after, job_id)
    return Admission(RATE_LIMITED, reason=lim.name, job_id=job_id, retry_after=verdict.retry_after)


def enqueue_site_setup(queue: JobQueue, tenant_id: str, door: str) -> None:
    """Learn the app's own account id off the request thread; a failure only delays it to later jobs."""
    try:
        queue.enqueue(AiEvent(tenant_id=tenant_id, door=door, kind="site_setup",
                              delivery_id=f"setup:{int(time.time())}", issue_key="", source="lifecycle"))
    except Exception:
        log.exception("could not enqueue the site setup job; the first event will learn the app account")
