"""``Pipeline.process``: one event from context to a posted reply (or a deliberate skip).

context -> classify -> route -> generate -> validate -> act (post, transition) -> account.
The same code serves both doors and the draft-only facade; it never imports Flask.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import AppError, CircuitOpenError, JiraError, TokenExpiredError, ValidationFailedError
from ..jira.client import JiraClient
from ..models import AiEvent, Classification, Draft, Intent, IssueContext, ReplyOutcome, Tenant
from ..settings import Settings
from ..storage.site_settings import SiteSettingsRepo
from ..storage.tenants import TenantRepo
from . import messages
from .classify import IntentClassifier
from .context import REPLY_PROPERTY_KEY as REPLY_PROPERTY
from .context import build_context
from .generators.base import ModelGateway
from .generators.dispatch import offline_replacement
from .handlers import generation_request
from .language import detect_language
from .rate_limit import RATE_LIMITED, refusal_message
from .router import Router
from .run import EventLogger, RunContext
from .ui_tasks import UiTasks
from .validate import MODEL_OUTPUT_REJECTIONS, ValidatedReply, validate_reply

if TYPE_CHECKING:
    from ..ops.metrics import Metrics

log = logging.getLogger(__name__)

FAILURE_REASONS = {
    "llm_error": "the AI service did not answer",
    "jira_error": "Jira did not accept my reply",
    "jira_unavailable": "Jira could not be reached",
    "jira_rate_limited": "Jira asked me to slow down",
    "reply_invalid": "the reply I wrote did not pass my quality checks",
    "storage_error": "my storage was unavailable",
    "circuit_open": "a service I depend on is recovering from an outage",
    "jira_forbidden": "Jira did not allow the app to do this",
}
CIRCUIT_WAIT_SECONDS = 30.0
#: The journal step recording the reply a job posted (its comment id).
POSTED_STEP = "posted"


class SkipEvent(AppError):
    """The event needs no reply after all (site gone, project disabled, already answered)."""

    code = "skipped"


class Pipeline:
    """Runs events through the stages. Implements the job queue's Runner protocol."""

    def __init__(
        self,
        *,
        settings: Settings,
        tenants: TenantRepo,
        site_settings: SiteSettingsRepo,
        jira_for: Callable[[Tenant], JiraClient],
        gateway: ModelGateway | None,
        classifier: IntentClassifier,
        router: Router,
        metrics: Metrics | None = None,
    ) -> None:
        """Collaborators are built once by the composition root and shared by every job."""
        self.settings = settings
        self.tenants = tenants
        self.site_settings = site_settings
        self.jira_for = jira_for
        self.gateway = gateway
        self.classifier = classifier
        self.router = router
        self.metrics = metrics
        self.ui = UiTasks(
            settings=settings, tenants=tenants, site_settings=site_settings, jira_for=jira_for,
            gateway=gateway, metrics=metrics,
        )

    # ------------------------------------------------------------------ Runner protocol
    def run(self, event: AiEvent, *, job_id: str, journal: Any, final_attempt: bool) -> str:
        """Process one queued event; returns the outcome status."""
        return self.process(event, job_id=job_id, journal=journal).status

    def is_retryable(self, error: BaseException) -> bool:
        """Retry transient failures only (Jira/LLM/storage outages), not bad data or missing issues."""
        if isinstance(error, JiraError):
            return error.status is None or error.status == 429 or error.status >= 500
        return not isinstance(error, ValidationFailedError | SkipEvent)

    def wait_before_retry(self, error: BaseException) -> float | None:
        """Waits that do not count as a try: an open breaker (its probe comes after the reset timeout),
        and a Forge site's expired system token (the next delivery or hourly refresh brings a new one).
        """
        if isinstance(error, TokenExpiredError):
            return self.settings.forge_token_wait_seconds
        return CIRCUIT_WAIT_SECONDS if isinstance(error, CircuitOpenError) else None

    def run_ui(
        self, kind: str, payload: dict[str, Any], *, job_id: str, tenant_id: str, account_id: str
    ) -> dict[str, Any]:
        """Do one job for the issue panel (draft an email, post it as a comment): see ``ui_tasks``."""
        return self.ui.run(kind, payload, job_id=job_id, tenant_id=tenant_id, account_id=account_id)

    def give_up(self, event: AiEvent, error: BaseException) -> None:
        """Leave a short, polite comment saying the request could not be done, and why."""
        if self.metrics is not None:
            self.metrics.record_error(getattr(error, "code", "internal_error"))
        if isinstance(error, SkipEvent) or event.kind != "comment":
            return
        if isinstance(error, JiraError) and error.status == 404:
            log.info("issue or comment gone (%s); nothing to reply to", event.issue_key)
            return
        tenant = self.tenants.get(event.tenant_id)
        if tenant is None:
            return
        code = getattr(error, "code", "internal_error")
        why = (
            FAILURE_REASONS.get(code)
            or FAILURE_REASONS.get(type(error).__name__.lower())
            or "something went wrong"
        )
        language = detect_language(event.text)
        text = messages.text("failure.note", language, why=messages.translate(why, language), code=code)
        draft = Draft(intent=Intent.UNCLEAR, markdown=text, note=None)
        jira = self.jira_for(tenant)
        if self._existing_reply(event, self._recent_comments(jira, event)) is None:
            self._post(jira, event, draft, status="failed")

    # ------------------------------------------------------------------ main flow
    def process(self, event: AiEvent, *, job_id: str | None = None, journal: Any = None) -> ReplyOutcome:
        """Answer one event in Jira. Raises on transient failures so the job is retried."""
        started = time.perf_counter()
        try:
            outcome = self._process(event, job_id=job_id, journal=journal)
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.record_pipeline_execution(
                    intent=None,
                    total_ms=(time.perf_counter() - started) * 1000,
                    success=False,
                    error_code=getattr(exc, "code", type(exc).__name__),
                )
            raise
        if self.metrics is not None and outcome.status == "posted":
            self.metrics.record_pipeline_execution(
                intent=outcome.intent,
                total_ms=(time.perf_counter() - started) * 1000,
                success=True,
                stages=outcome.timings_ms,
            )
        return outcome

    def _process(self, event: AiEvent, *, job_id: str | None, journal: Any) -> ReplyOutcome:
        bound = EventLogger(log, {"site": event.tenant_id, "delivery": event.delivery_id})
        tenant = self.tenants.get(event.tenant_id)
        if tenant is None or not tenant.enabled:
            bound.info("site unknown or disabled; skipping")
            return ReplyOutcome(status="skipped", reason="site_unavailable")
        if event.kind == "site_setup":
            account = self._app_account_id(tenant, self.jira_for(tenant))
            return ReplyOutcome(status="skipped", reason=f"site_setup:{'ok' if account else 'unknown'}")
        site = self.site_settings.get(tenant.tenant_id)
        if not site.project_enabled(event.project_key):
            return ReplyOutcome(status="skipped", reason="project_disabled")
        if event.kind == RATE_LIMITED:
            return self._reply_rate_limited(event, tenant, bound)
        if event.kind == "issue_done" and (not site.resolution_summary_on_done or event.extra.get("by_app")):
            return ReplyOutcome(status="skipped", reason="resolution_summary_off")
        jira = self.jira_for(tenant)
        timings: dict[str, float] = {}

        with self._stage("context", timings):
            app_account_id = self._app_account_id(tenant, jira)
            recent = self._recent_comments(jira, event)
            existing = self._existing_reply(event, recent)
            if existing is not None:
                bound.info("reply %s already posted for this request; not posting again", existing)
                return ReplyOutcome(status="duplicate", comment_id=existing)
            deleted = self._posted_before(job_id, journal)
            if deleted is not None:
                bound.info("reply %s of this job was deleted since it was posted; not posting again", deleted)
                return ReplyOutcome(status="skipped", reason="reply_deleted", comment_id=deleted)
            if self._request_withdrawn(jira, event, recent):
                bound.info("the request comment was deleted before the reply; not answering or acting on it")
                return ReplyOutcome(status="skipped", reason="request_deleted")
            context = build_context(
                jira,
                issue_key=event.issue_key,
                requester_account_id=event.author_account_id,
                requester_name=event.author_name,
                app_account_id=app_account_id,
                exclude_comment_id=event.comment_id or None,
                comments=recent,
            )
        with self._stage("classify", timings):
            classification = self._classify(event, context)
        run = RunContext(settings=self.settings, event=event, tenant=tenant, site=site, context=context,
                         classification=classification, gateway=self.gateway, jira=jira, job_id=job_id,
                         journal=journal, log=bound)
        with self._stage("generate", timings):
            draft = self._write(run)
        with self._stage("validate", timings):
            reply, draft = self._validate(run, draft)
        with self._stage("post", timings):
            comment_id = self._post(jira, event, draft, adf=reply.adf, classification=classification)
            run.step_done(POSTED_STEP, comment_id)
        bound.info(
            "posted reply %s intent=%s offline=%s", comment_id, classification.intent.value, draft.offline
        )
        return ReplyOutcome(
            status="posted",
            intent=classification.intent.value,
            comment_id=comment_id,
            transitioned_to=draft.data.get("transitioned_to"),
            draft=draft,
            confidence=classification.confidence,
            timings_ms=timings,
        )

    def _reply_rate_limited(self, event: AiEvent, tenant: Tenant, bound: EventLogger) -> ReplyOutcome:
        """The polite reply to the first request refused by a rate limit (no model, no action)."""
        jira = self.jira_for(tenant)
        existing = self._existing_reply(event, self._recent_comments(jira, event))
        if existing is not None:
            return ReplyOutcome(status="duplicate", comment_id=existing, reason="rate_limited")
        extra = event.extra
        limit = str(extra.get("limit") or "")
        retry_after = max(1, math.ceil(float(extra.get("retry_at") or 0) - time.time()))
        text = refusal_message(str(extra.get("per") or "user"), str(extra.get("window") or "minute"),
                               retry_after, language=str(extra.get("language") or "en"))
        comment_id = self._post(jira, event, Draft(intent=Intent.UNCLEAR, markdown=text), status=RATE_LIMITED)
        bound.info("posted the rate-limit reply %s (%s)", comment_id, limit)
        return ReplyOutcome(status=RATE_LIMITED, comment_id=comment_id, reason=limit)

    def draft(self, text: str, *, tenant: Tenant, context: IssueContext) -> tuple[Classification, Draft]:
        """Classify and draft without Jira (nothing posted, no action taken): the facade's path."""
        site = self.site_settings.get(tenant.tenant_id)
        event = AiEvent(
            tenant_id=tenant.tenant_id,
            door="api",
            kind="comment",
            delivery_id="api",
            issue_key=context.key,
            text=text,
            source="api",
        )
        started = time.perf_counter()
        timings: dict[str, float] = {}
        with self._stage("classify", timings):
            classification = self._classify(event, context)
        with self._stage("generate", timings):
            draft = self._write(RunContext(settings=self.settings, event=event, tenant=tenant, site=site,
                                           context=context, classification=classification,
                                           gateway=self.gateway, jira=None))
        if self.metrics is not None:
            self.metrics.record_pipeline_execution(
                intent=classification.intent.value, total_ms=(time.perf_counter() - started) * 1000,
                success=True, stages=timings,
            )
        return classification, draft

    # ------------------------------------------------------------------ stages
    def _write(self, run: RunContext) -> Draft:
        """The draft from the handler of the run's intent."""
        return self.router.handler_for(run.classification.intent)(run)

    def _validate(self, run: RunContext, draft: Draft) -> tuple[ValidatedReply, Draft]:
        """The checked reply and the draft it came from. A model's reply that reproduces its instructions
        or claims an action the app did not take is never posted: the labelled offline draft for the
        same request replaces it (counted by its error code, logged without its content).
        """
        try:
            return validate_reply(draft, trigger=self.settings.ai_trigger), draft
        except ValidationFailedError as exc:
            if exc.code not in MODEL_OUTPUT_REJECTIONS or draft.offline:
                raise
            code = exc.code
        if self.metrics is not None:
            self.metrics.record_error(code)
        run.log.warning("the model's reply was rejected (%s); posting the offline draft instead", code)
        replacement = offline_replacement(generation_request(run), draft, code)
        return validate_reply(replacement, trigger=self.settings.ai_trigger), replacement

    def _classify(self, event: AiEvent, context: IssueContext) -> Classification:
        started = time.perf_counter()
        result = self._decide_intent(event, context)
        if self.metrics is not None:
            self.metrics.record_classification(
                result.intent.value, result.confidence, result.source, (time.perf_counter() - started) * 1000
            )
        return result

    def _decide_intent(self, event: AiEvent, context: IssueContext) -> Classification:
        if event.kind == "issue_done":
            return Classification(
                intent=Intent.SUMMARY_REQUEST, confidence=1.0, source="event", details={"resolution": True}
            )
        previous = context.last_ai_reply
        previous_intent = (previous.meta or {}).get("intent") if previous is not None else None
        return self.classifier.classify(
            event.text, tenant_id=event.tenant_id, previous_intent=previous_intent
        )

    def _app_account_id(self, tenant: Tenant, jira: JiraClient) -> str | None:
        if tenant.app_account_id:
            return tenant.app_account_id
        try:
            me = jira.get_myself()
        except JiraError as exc:
            log.warning("could not learn the app's own account id: %s", exc.code)
            return None
        account = me.get("accountId")
        if account:
            tenant.app_account_id = account
            self.tenants.save(tenant)
        return account

    @staticmethod
    def _recent_comments(jira: JiraClient, event: AiEvent) -> list[dict[str, Any]]:
        """The newest comments with their properties: enough to find an earlier reply to this request."""
        return jira.get_comments(event.issue_key, max_results=50, newest_first=True, expand_properties=True)

    @staticmethod
    def _posted_before(job_id: str | None, journal: Any) -> str | None:
        """The id of the reply an earlier attempt of this job posted (its marker no longer found: someone
        deleted it). A deleted reply is a person's decision, so a rerun ends instead of posting again.
        """
        if journal is None or not job_id:
            return None
        record = journal.get(job_id)
        value = (record.steps or {}).get(POSTED_STEP) if record else None
        return str(value) if value else None

    @staticmethod
    def _request_withdrawn(jira: JiraClient, event: AiEvent, recent: list[dict[str, Any]]) -> bool:
        """True when the comment that asked has been deleted: it is then neither answered (the reply
        would repeat words their author took back) nor acted on. Asks Jira only when the request is
        not among the ``recent`` comments already fetched (so never in the usual case).
        """
        if event.kind != "comment" or not event.comment_id:
            return False
        if any(str(c.get("id")) == str(event.comment_id) for c in recent):
            return False
        try:
            jira.get_comment(event.issue_key, event.comment_id, expand_properties=False)
        except JiraError as exc:
            if exc.status == 404:
                return True
            raise
        return False

    def _existing_reply(self, event: AiEvent, comments: list[dict[str, Any]]) -> str | None:
        """The id of our reply to this request, if one was posted already (by any attempt)."""
        marker = self._marker(event)
        for comment in comments:
            for prop in comment.get("properties") or []:
                if prop.get("key") == REPLY_PROPERTY and (prop.get("value") or {}).get("request") == marker:
                    return str(comment.get("id"))
        return None

    @staticmethod
    def _marker(event: AiEvent) -> str:
        if event.kind in ("comment", RATE_LIMITED):  # the rate-limit reply answers the request comment
            return f"comment:{event.comment_id}"
        return f"{event.kind}:{event.extra.get('changelog_id') or event.delivery_id}"

    def _post(
        self,
        jira: JiraClient,
        event: AiEvent,
        draft: Draft,
        *,
        adf: dict | None = None,
        classification: Classification | None = None,
        status: str = "answered",
    ) -> str:
        if adf is None:
            adf = validate_reply(draft, trigger=self.settings.ai_trigger).adf
        value = {
            "request": self._marker(event),
            "status": status,
            "intent": draft.intent.value,
            "offline": draft.offline,
            "model": draft.model,
            "prompt_version": draft.prompt_version,
            "confidence": round(classification.confidence, 3) if classification else None,
            "delivery": event.delivery_id,
            "at": int(time.time()),
        }
        created = jira.add_comment(event.issue_key, adf, properties=[{"key": REPLY_PROPERTY, "value": value}])
        return str(created.get("id"))

    class _Timer:
        def __init__(self, pipeline: Pipeline, stage: str, timings: dict[str, float]) -> None:
            self.pipeline, self.stage, self.timings = pipeline, stage, timings

        def __enter__(self) -> None:
            self.start = time.perf_counter()

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            elapsed = (time.perf_counter() - self.start) * 1000
            self.timings[self.stage] = round(elapsed, 2)
            if self.pipeline.metrics is not None:
                self.pipeline.metrics.record_stage(self.stage, elapsed, exc_type is None)

    def _stage(self, name: str, timings: dict[str, float]) -> Pipeline._Timer:
        return Pipeline._Timer(self, name, timings)
