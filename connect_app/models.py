"""Plain data types shared by every layer. No I/O, no framework imports."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any


class Intent(enum.StrEnum):
    """What a person asked the assistant to do."""

    TASK_COMPLETION = "task_completion"
    EMAIL_REQUEST = "email_request"
    COMMENT_REQUEST = "comment_request"
    SUMMARY_REQUEST = "summary_request"
    HELP = "help"
    UNCLEAR = "unclear"

    @property
    def is_action(self) -> bool:
        """True for intents that change Jira beyond posting a reply (never cached)."""
        return self is Intent.TASK_COMPLETION


READ_ONLY_INTENTS = frozenset({Intent.EMAIL_REQUEST, Intent.COMMENT_REQUEST, Intent.SUMMARY_REQUEST})


@dataclass
class Tenant:
    """A Jira site that installed the app, through either door.

    ``tenant_id`` is the Connect ``clientKey`` or the Forge ``installationId``. ``shared_secret``
    (Connect) and ``system_token`` (Forge) are kept in memory in clear and encrypted at rest by the
    tenant repository.
    """

    tenant_id: str
    door: str  # "connect" | "forge"
    base_url: str
    shared_secret: str | None = None
    app_key: str | None = None
    cloud_id: str | None = None
    api_base_url: str | None = None
    system_token: str | None = None
    system_token_expires_at: float | None = None
    app_account_id: str | None = None
    enabled: bool = True
    installed_at: float = 0.0
    updated_at: float = 0.0
    display_url: str | None = None
    description: str = ""

    def to_public(self) -> dict[str, Any]:
        """The tenant without its secrets, for display and logs."""
        out = dataclasses.asdict(self)
        out["shared_secret"] = "***" if self.shared_secret else None
        out["system_token"] = "***" if self.system_token else None
        return out


@dataclass
class AiEvent:
    """One normalised request for the assistant, whichever door it came through.

    It is JSON-serialisable (``to_dict``/``from_dict``) so it can travel through the job queue.
    """

    tenant_id: str
    door: str
    kind: str  # "comment" | "issue_done"
    delivery_id: str
    issue_key: str
    issue_id: str = ""
    project_key: str = ""
    comment_id: str = ""
    text: str = ""  # the request text, with the trigger removed
    raw_text: str = ""  # the whole comment as plain text
    author_account_id: str = ""
    author_name: str = ""
    received_at: float = 0.0
    source: str = "comment"  # "comment" | "panel" | "api" | "webhook"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AiEvent:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class CommentInfo:
    """A comment on an issue, as text."""

    id: str
    author_account_id: str
    author_name: str
    text: str
    created: str = ""
    is_ai: bool = False
    meta: dict[str, Any] | None = None  # our reply marker (intent, request, ...) when the app wrote it


@dataclass
class IssueContext:
    """What the assistant knows about the issue when it answers."""

    key: str
    summary: str = ""
    description: str = ""
    status: str = ""
    status_category: str = ""
    issue_type: str = ""
    priority: str = ""
    assignee: str = ""
    reporter: str = ""
    due_date: str = ""
    labels: list[str] = field(default_factory=list)
    project_key: str = ""
    comments: list[CommentInfo] = field(default_factory=list)
    requester_account_id: str = ""
    requester_name: str = ""
    issue_id: str = ""

    def content_hash(self) -> str:
        """A stable hash of the issue content a reply depends on (for cache keys)."""
        import hashlib
        import json

        material = {
            "key": self.key, "summary": self.summary, "description": self.description,
            "status": self.status, "assignee": self.assignee, "reporter": self.reporter,
            "due": self.due_date, "priority": self.priority, "labels": self.labels,
            "comments": [(c.id, c.text) for c in self.comments],
        }
        blob = json.dumps(material, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    @property
    def last_ai_reply(self) -> CommentInfo | None:
        """The most recent comment written by the assistant, if any."""
        for comment in reversed(self.comments):
            if comment.is_ai:
                return comment
        return None


@dataclass
class Classification:
    """The intent of a request and how sure we are."""

    intent: Intent
    confidence: float
    source: str  # "rules" | "embeddings" | "llm" | "fallback"
    tone: str | None = None
    language: str = "en"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "intent": self.intent.value, "confidence": round(self.confidence, 3), "source": self.source,
            "tone": self.tone, "language": self.language,
        }


@dataclass
class Usage:
    """Token usage reported by a model response."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    """One model answer."""

    text: str
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    cost_micros: int = 0
    cached: bool = False
    finish_reason: str | None = None


@dataclass(frozen=True)
class CacheHint:
    """What a cacheable generation is about, so a cache can tell a true repeat from a look-alike.

    The exact cache needs only the key; the semantic cache compares the request text by meaning and
    then checks these fields (same issue and content, same recipient and tone, same polarity).
    """

    request: str
    issue_key: str
    content_hash: str
    prompt_version: str
    tone: str | None = None
    language: str = "en"
    recipient: str | None = None


@dataclass
class Draft:
    """What a generator produced, before validation and posting.

    ``markdown`` is the reply body. ``offline`` is True when it came from templates rather than a
    model, and ``note`` is a short label explaining why (shown to the user).
    """

    intent: Intent
    markdown: str
    subject: str | None = None
    offline: bool = False
    note: str | None = None
    model: str | None = None
    cost_micros: int = 0
    cached: bool = False
    prompt_version: str | None = None
    actions: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReplyOutcome:
    """The result of processing one event."""

    status: str  # "posted" | "skipped" | "duplicate" | "failed" | "drafted"
    intent: str | None = None
    comment_id: str | None = None
    transitioned_to: str | None = None
    draft: Draft | None = None
    reason: str | None = None
    confidence: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
