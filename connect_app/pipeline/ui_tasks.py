"""The work behind the issue panel, done by a worker: draft an email from a form, post it as a comment.

It uses what the comment pipeline uses (issue context, the email generator with its budget, cache and
offline fallback, the reply validation and the reply marker); only the request comes from a form
instead of a comment. Every failure leaves here as an :class:`~connect_app.errors.AppError` whose
message a person can read on the screen. It never imports Flask.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import (
    AppError,
    BadRequestError,
    CircuitOpenError,
    ForbiddenError,
    JiraError,
    NotFoundError,
    StorageError,
    ValidationFailedError,
)
from ..jira.adf import adf_to_text, markdown_to_adf
from ..jira.client import JiraClient
from ..models import Classification, Draft, Intent, Tenant
from ..platform.connect.descriptor import PANEL_MODULE_KEYS, glance_status_key
from ..settings import EMAIL_TONES, Settings
from ..storage.site_settings import SiteSettingsRepo
from ..storage.tenants import TenantRepo
from .context import REPLY_PROPERTY_KEY, build_context
from .generators.base import GenerationRequest, ModelGateway
from .generators.email import generate_email
from .generators.email_format import MAX_SUBJECT_CHARS, email_markdown
from .language import detect_language
from .validate import find_placeholder, tone_problem, validate_reply

if TYPE_CHECKING:
    from ..ops.metrics import Metrics

log = logging.getLogger(__name__)

DRAFT, COMMENT = "draft", "comment"
UI_KINDS = (DRAFT, COMMENT)
RECIPIENTS = ("customer", "stakeholder", "team", "vendor", "other")
PURPOSES = ("status_update", "delay", "resolution", "request_info", "other")
MAX_NOTES_CHARS = 2000
MAX_FREE_TEXT_CHARS = 200
MAX_BODY_CHARS = 10_000

_RECIPIENT_WORDS = {
    "customer": "the customer",
    "stakeholder": "the stakeholders",
    "team": "the team",
    "vendor": "the vendor",
}
_PURPOSE_WORDS = {
    "status_update": "the current status of this issue",
    "delay": "the delay on this issue",
    "resolution": "the resolution of this issue",
    "request_info": "the information we need to move this issue forward",
}
_TRY_AGAIN = "Please try again in a minute."


# ---------------------------------------------------------------------- forms
def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise BadRequestError(f"{name} must be true or false")
    return value


def _text(body: Mapping[str, Any], name: str, *, limit: int, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be text")
    value = value.strip()
    if required and not value:
        raise BadRequestError(f"{name} is required")
    if len(value) > limit:
        raise BadRequestError(f"{name} is limited to {limit:,} characters (it has {len(value):,})")
    return value


def _choice(body: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(name, default)
    if value not in choices:
        raise BadRequestError(f"{name} must be one of: {', '.join(choices)}")
    return str(value)


def _only(body: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise BadRequestError("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)}")
    return body


@dataclass(frozen=True)
class EmailForm:
    """What the person asked for in the panel: who the email is for, why, in which tone, with notes."""

    recipient: str
    recipient_text: str
    purpose: str
    purpose_text: str
    tone: str
    notes: str
    fresh: bool = False  # "Regenerate": skip the cache for a new draft

    @classmethod
    def parse(cls, body: Any, *, default_tone: str = "formal") -> EmailForm:
        """Validate the panel's JSON body; raises BadRequestError naming the field to fix."""
        data = _only(body, set(cls.__dataclass_fields__))
        recipient = _choice(data, "recipient", RECIPIENTS)
        purpose = _choice(data, "purpose", PURPOSES)
        limit = MAX_FREE_TEXT_CHARS
        return cls(
            recipient=recipient,
            recipient_text=_text(data, "recipient_text", limit=limit, required=recipient == "other"),
            purpose=purpose,
            purpose_text=_text(data, "purpose_text", limit=limit, required=purpose == "other"),
            tone=_choice(data, "tone", EMAIL_TONES, default_tone),
            notes=_text(data, "notes", limit=MAX_NOTES_CHARS),
            fresh=_flag(data, "fresh"),
        )

    def request_text(self) -> str:
        """The request in words, as someone would have written it after ``@ai``."""
        who = _RECIPIENT_WORDS.get(self.recipient) or self.recipient_text
        what = _PURPOSE_WORDS.get(self.purpose) or self.purpose_text
        text = f"Draft an email to {who} about {what}."
        if self.notes:
            text += f"\nThe email must take these notes into account: {self.notes}"
        return text

    def to_payload(self) -> dict[str, Any]:
        """JSON for the job queue."""
        return asdict(self)


@dataclass(frozen=True)
class CommentForm:
    """An email the person (possibly after editing it) wants posted on the issue."""

    subject: str
    body: str

    @classmethod
    def parse(cls, body: Any) -> CommentForm:
        """Validate the JSON body; raises BadRequestError naming the field to fix."""
        data = _only(body, {"subject", "body"})
        return cls(
            subject=" ".join(_text(data, "subject", limit=MAX_SUBJECT_CHARS, required=True).split()),
            body=_text(data, "body", limit=MAX_BODY_CHARS, required=True),
        )

    def to_payload(self) -> dict[str, Any]:
        """JSON for the job queue."""
        return asdict(self)


# ---------------------------------------------------------------------- budget and counters
@runtime_checkable
class BudgetView(Protocol):
    """What the panel needs to know about a site's daily budget (the model manager offers it)."""

    def limit_micros(self, tenant_id: str) -> int:
        """The site's daily limit in micro-dollars."""

    def spent_today(self, tenant_id: str) -> int:
        """Today's committed spend in micro-dollars."""


def budget_state(budget: BudgetView | None, tenant_id: str) -> dict[str, Any]:
    """``{"exhausted", "left_usd", "limit_usd"}`` for the site today (amounts None when unknown)."""
    if budget is None:
        return {"exhausted": False, "left_usd": None, "limit_usd": None}
    limit = int(budget.limit_micros(tenant_id))
    left = max(0, limit - int(budget.spent_today(tenant_id)))
    return {"exhausted": left <= 0, "left_usd": _usd(left), "limit_usd": _usd(limit)}


def _usd(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def drafts_property_key(app_key: str) -> str:
    """The issue property counting the email drafts made on an issue (``{"count": n}``)."""
    return f"{app_key}-drafts"


def draft_count(value: Any) -> int:
    """The count stored in the drafts property (0 when absent or unreadable)."""
    count = value.get("count") if isinstance(value, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def drafts_label(count: int) -> str:
    """``1 draft``, ``3 drafts``: the glance lozenge's text."""
    return f"{count} draft" if count == 1 else f"{count} drafts"


# ---------------------------------------------------------------------- the tasks
@dataclass(frozen=True)
class UiJob:
    """Who asked for a UI job and about which issue (from the verified context token)."""

    job_id: str
    tenant_id: str
    account_id: str
    issue_key: str
    issue_id: str = ""


def job_payload(form: EmailForm | CommentForm, *, issue_key: str, issue_id: str = "") -> dict[str, Any]:
    """The queue payload of a UI job: the validated form and the issue it is about."""
    return {"issue": {"key": issue_key, "id": issue_id}, "form": form.to_payload()}


class UiTasks:
    """Drafts emails and posts them as comments for the panel. Built once per worker."""

    def __init__(
        self,
        *,
        settings: Settings,
        tenants: TenantRepo,
        site_settings: SiteSettingsRepo,
        jira_for: Callable[[Tenant], JiraClient],
        gateway: ModelGateway | None,
        metrics: Metrics | None = None,
    ) -> None:
        """The same collaborators the pipeline has; ``gateway`` also reports the budget when it can."""
        self.settings = settings
        self.tenants = tenants
        self.site_settings = site_settings
        self.jira_for = jira_for
        self.gateway = gateway
        self.budget = gateway if isinstance(gateway, BudgetView) else None
        self.metrics = metrics

    def run(
        self, kind: str, payload: Mapping[str, Any], *, job_id: str, tenant_id: str, account_id: str
    ) -> dict[str, Any]:
        """Do one UI job; its JSON result, or an AppError in plain words."""
        started = time.perf_counter()
        try:
            issue = payload.get("issue") or {}
            job = UiJob(job_id=job_id, tenant_id=tenant_id, account_id=account_id,
                        issue_key=str(issue.get("key") or ""), issue_id=str(issue.get("id") or ""))
            if not job.issue_key:
                raise BadRequestError("This request is not about an issue.")
            if kind == DRAFT:
                result = self.draft_email(job, EmailForm.parse(payload.get("form")))
            elif kind == COMMENT:
                result = self.post_comment(job, CommentForm.parse(payload.get("form")))
            else:
                raise BadRequestError(f"Unknown kind of request: {kind!r}.")
        except AppError as exc:
            plain = plain_error(exc)
            if plain.code == "jira_forbidden" or not isinstance(plain, _PERSON_ERRORS):
                self._record(kind, started, plain.code)  # a person's mistake is no failure of the service
            if plain is exc:
                raise
            raise plain from exc
        self._record(kind, started, None)
        return result

    # ------------------------------------------------------------------ draft
    def draft_email(self, job: UiJob, form: EmailForm) -> dict[str, Any]:
        """Write the email (model, cache or offline writer), count it on the issue, return it."""
        tenant = self._tenant(job.tenant_id)
        site = self.site_settings.get(tenant.tenant_id)
        jira = self.jira_for(tenant)
        context = build_context(jira, issue_key=job.issue_key, requester_account_id=job.account_id,
                                app_account_id=tenant.app_account_id)
        if context.project_key and not site.project_enabled(context.project_key):
            raise ForbiddenError(
                f"Your Jira administrator turned the AI assistant off in project {context.project_key}.",
                code="project_disabled",
            )
        text = form.request_text()
        classification = Classification(
            intent=Intent.EMAIL_REQUEST, confidence=1.0, source="panel", tone=form.tone,
            language=detect_language(form.notes) if form.notes else "en",
        )
        request = GenerationRequest.build(
            classification, request=text, context=context, tenant_id=tenant.tenant_id,
            site_tone=site.default_email_tone, extra_instructions=site.extra_instructions,
            trigger=self.settings.ai_trigger, max_tokens=self.settings.llm_max_tokens,
        )
        if form.fresh:
            request = dataclasses.replace(request, use_cache=False)
        draft = generate_email(request, self.gateway)
        email = draft.data.get("email") or {}
        reason = str(draft.data.get("fallback_reason") or "")
        budget = budget_state(self.budget, tenant.tenant_id)
        return {
            "subject": draft.subject or email.get("subject") or "",
            # Plain text to paste into an email client (lists stay "- item"); the Markdown is kept too.
            "body": adf_to_text(markdown_to_adf(email.get("body") or draft.markdown)).strip(),
            "markdown": draft.markdown,
            "offline": draft.offline,
            "note": draft.note,
            "budget_exhausted": reason.startswith("budget") or budget["exhausted"],
            "cached": draft.cached,
            "cost_usd": _usd(draft.cost_micros),
            "drafts": self._count_draft(jira, job.issue_key),
        }

    def _count_draft(self, jira: JiraClient, issue_key: str) -> int | None:
        """Add one to the issue's draft counter and show it on the glance; None when Jira refused."""
        app_key = self.settings.app_key
        try:
            count = draft_count(jira.get_issue_property(issue_key, drafts_property_key(app_key))) + 1
            jira.set_issue_property(issue_key, drafts_property_key(app_key),
                                    {"count": count, "updated_at": int(time.time())})
        except (JiraError, CircuitOpenError) as exc:
            log.warning("could not count the draft on the issue: %s", exc.code)
            return None
        status = {"type": "lozenge", "value": {"label": drafts_label(count), "type": "default"}}
        for module_key in PANEL_MODULE_KEYS:
            try:
                jira.set_issue_property(issue_key, glance_status_key(app_key, module_key), status)
            except (JiraError, CircuitOpenError) as exc:
                log.warning("could not update the %s status: %s", module_key, exc.code)
        return count

    # ------------------------------------------------------------------ post
    def post_comment(self, job: UiJob, form: CommentForm) -> dict[str, Any]:
        """Post the email as an ADF comment, checked like every reply and marked as the app's."""
        tenant = self._tenant(job.tenant_id)
        jira = self.jira_for(tenant)
        markdown = email_markdown(form.subject, form.body)
        placeholder = find_placeholder(markdown)
        if placeholder:
            raise ValidationFailedError(
                f"The email still contains a placeholder ({placeholder[:40]}). Replace it with the real "
                "text, then post it.", code="reply_placeholder")
        problem = tone_problem(markdown)
        if problem:
            raise ValidationFailedError(f"The email was not posted because {problem}.", code="reply_tone")
        issue_id = job.issue_id or str(jira.get_issue(job.issue_key, fields=["summary"]).get("id") or "")
        granted = jira.user_has_permissions(job.account_id, issue_id=issue_id,
                                            project_permissions=["ADD_COMMENTS"])
        if not granted.get("ADD_COMMENTS"):
            raise ForbiddenError("You don't have permission to comment on this issue, so the email was not "
                                 "posted.", code="comment_forbidden")
        reply = validate_reply(Draft(intent=Intent.EMAIL_REQUEST, markdown=markdown, subject=form.subject),
                               trigger=self.settings.ai_trigger)
        marker = {
            "request": f"panel:{job.job_id}",
            "status": "answered",
            "intent": Intent.EMAIL_REQUEST.value,
            "source": "panel",
            "by": job.account_id,
            "at": int(time.time()),
        }
        created = jira.add_comment(job.issue_key, reply.adf,
                                   properties=[{"key": REPLY_PROPERTY_KEY, "value": marker}])
        return {"comment_id": str(created.get("id") or ""), "warnings": reply.warnings}

    # ------------------------------------------------------------------ helpers
    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise ForbiddenError("The app is not installed on this site any more.", code="site_unavailable")
        if not tenant.enabled:
            raise ForbiddenError("The app is disabled on this site.", code="site_unavailable")
        return tenant

    def _record(self, kind: str, started: float, error_code: str | None) -> None:
        if self.metrics is None:
            return
        if kind == DRAFT:
            self.metrics.record_pipeline_execution(
                intent=Intent.EMAIL_REQUEST.value, total_ms=(time.perf_counter() - started) * 1000,
                success=error_code is None, error_code=error_code,
            )
        elif error_code is not None:
            self.metrics.record_error(error_code)


# ---------------------------------------------------------------------- plain words
_PERSON_ERRORS = (BadRequestError, ForbiddenError, NotFoundError, ValidationFailedError)
_VALIDATION_MESSAGES = {
    "reply_empty": "The email is empty.",
    "reply_adf_invalid": "The email could not be turned into a Jira comment. Simplify its formatting and "
                         "try again.",
}


def plain_error(exc: AppError) -> AppError:
    """``exc`` with a message for the person at the screen (errors raised here already have one)."""
    if isinstance(exc, BadRequestError | ForbiddenError | NotFoundError):
        return exc
    if isinstance(exc, ValidationFailedError):
        if exc.code in _VALIDATION_MESSAGES:
            return ValidationFailedError(_VALIDATION_MESSAGES[exc.code], code=exc.code)
        return exc
    if isinstance(exc, CircuitOpenError):
        return CircuitOpenError(f"Jira is recovering from an outage. {_TRY_AGAIN}", code=exc.code)
    if isinstance(exc, JiraError):
        if exc.status == 404:
            return NotFoundError("This issue no longer exists, or the app cannot see it.",
                                 code="jira_not_found")
        if exc.status in (401, 403):
            return ForbiddenError("Jira did not allow the app to do this. A Jira administrator may need to "
                                  "check the app's permissions.", code="jira_forbidden")
        if exc.status == 429:
            return JiraError(f"Jira asked us to slow down. {_TRY_AGAIN}", status=429, code=exc.code)
        return JiraError(f"Jira could not be reached. {_TRY_AGAIN}", status=exc.status, code=exc.code)
    if isinstance(exc, StorageError):
        return StorageError(f"Our storage is not answering right now. {_TRY_AGAIN}", code=exc.code)
    return AppError(f"Something went wrong on our side. {_TRY_AGAIN}", code=exc.code)
