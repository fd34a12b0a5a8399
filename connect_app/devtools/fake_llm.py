"""An OpenAI-compatible fake model server for tests, the demo and benchmarks. Never used by the product.

It speaks enough of the OpenAI and Azure OpenAI REST APIs for the official SDK: chat completions
(plain and strict ``json_schema`` structured output), embeddings and the model list, with realistic
``usage`` (including ``prompt_tokens_details.cached_tokens`` when a long system prompt repeats, like
OpenAI's prompt caching). Answers are deterministic functions of the request:

* structured requests get a JSON object that fits the schema; an enum property named ``intent`` is
  chosen by keywords in the request, other enums by the first value the request mentions;
* other requests get a short Markdown reply naming the first issue key found (user messages first)
  and quoting the request line; email-like requests get ``Subject: ...`` then a body;
* embeddings are a hashed bag of word unigrams and bigrams, so texts sharing words are close.

Faults can be injected at run time, from Python (``server.faults.push("status", status=429)``) or
over HTTP (``POST /_fake/faults``), and every API request is recorded with its body
(``GET /_fake/requests``) so tests can assert what was sent. Run it in-process with
:class:`FakeLLMServer` or as a process: ``python -m connect_app.devtools.fake_llm --port 8089``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import math
import re
import signal
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

EMBEDDING_DIMS = 256
CACHE_MIN_TOKENS = 1024
CACHE_INCREMENT = 128
MAX_RECORDED = 1000
FAULT_KINDS = ("status", "sleep", "malformed", "empty")
FAULT_ENDPOINTS = ("chat", "embeddings", "models")
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "text-embedding-3-large")

ISSUE_KEY = re.compile(r"\b[A-Z][A-Z0-9]+-\d+\b")
_WORDS = re.compile(r"[a-z0-9]+")
_REQUEST_LABEL = re.compile(
    r"^[ \t>*\-]*(?:the\s+)?(?:user(?:'s)?\s+)?(request|question|instruction|ask|task)\s*:\s*(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_LABEL_PREFERENCE = ("request", "question", "instruction", "ask", "task")
_FACT = re.compile(
    r"^[ \t>*\-]*(summary|status|assignee|priority|due date|due)\s*:\s*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_INTENT_RULES = (
    ("email_request", re.compile(r"\b(e-?mail|mail|draft)", re.IGNORECASE)),
    ("summary_request", re.compile(r"\b(summar|tl;?dr|recap)", re.IGNORECASE)),
    ("task_completion", re.compile(r"\b(done|clos(e|ed|ing)|resolv(e|ed|ing)|complet(e|ed|ing)|mark)\b",
                                   re.IGNORECASE)),
    ("help", re.compile(r"\bhelp\b|what can you", re.IGNORECASE)),
    ("comment_request", re.compile(r"\b(comment|reply|status update|update|explain)", re.IGNORECASE)),
)
_PROSE_FIELDS = frozenset(
    {"body", "markdown", "reply", "text", "content", "comment", "message", "summary", "answer"}
)
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "overloaded"),
}
_ERROR_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to use this model.",
    404: "The model or deployment does not exist.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
    503: "The engine is currently overloaded, please try again later.",
}


# ====================================================================== faults
@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``remaining`` matching requests.

    ``kind``: ``status`` (answer ``status`` with an OpenAI-shaped error; 429 carries ``Retry-After``),
    ``sleep`` (wait ``seconds`` before answering normally, to trigger client timeouts),
    ``malformed`` (structured output that is not valid JSON) or ``empty`` (empty content).
    ``endpoint`` limits it to ``chat``, ``embeddings`` or ``models`` (None: any API request).
    """

    kind: str
    remaining: int = 1
    status: int = 500
    seconds: float = 0.0
    retry_after: float | None = None
    endpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class FaultQueue:
    """Thread-safe queue of pending faults; the first one matching a request is used up first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def push(
        self,
        kind: str,
        *,
        count: int = 1,
        status: int = 500,
        seconds: float = 0.0,
        retry_after: float | None = None,
        endpoint: str | None = None,
    ) -> Fault:
        """Queue a fault for the next ``count`` matching requests. Raises ValueError on bad input."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        if not isinstance(count, int) or count < 1:
            raise ValueError("fault count must be a positive integer")
        if kind == "status" and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError("fault status must be an HTTP error status (400-599)")
        if seconds < 0 or (retry_after is not None and retry_after < 0):
            raise ValueError("fault seconds and retry_after must not be negative")
        if endpoint is not None and endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"fault endpoint must be one of {', '.join(FAULT_ENDPOINTS)}")
        fault = Fault(kind=kind, remaining=count, status=status, seconds=float(seconds),
                      retry_after=retry_after, endpoint=endpoint)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, endpoint: str) -> Fault | None:
        """Use up one application of the first fault matching ``endpoint``, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in (None, endpoint):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return Fault(**asdict(fault))
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        """The pending faults, as dicts."""
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)


# ====================================================================== request analysis
def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message (string content or a list of text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def estimate_tokens(text: str) -> int:
    """About one token per four characters, like OpenAI's rule of thumb."""
    return math.ceil(len(text) / 4) if text else 0


def detect_intent(text: str) -> str:
    """An intent name from keywords in ``text`` (``unclear`` when none match)."""
    for intent, pattern in _INTENT_RULES:
        if pattern.search(text):
            return intent
    return "unclear"


def request_line(text: str) -> str:
    """The line of a prompt that carries the request: a labelled line or the last plain line."""
    labelled: dict[str, str] = {}
    lines = text.splitlines()
    for match in _REQUEST_LABEL.finditer(text):
        label = match.group(1).lower()
        value = _clean(match.group(2))
        if not value:  # label alone on its line: take the next non-empty line
            line_no = text.count("\n", 0, match.start())
            value = next((_clean(x) for x in lines[line_no + 1:] if _clean(x)), "")
        if value and label not in labelled:
            labelled[label] = value
    for label in _LABEL_PREFERENCE:
        if label in labelled:
            return labelled[label]
    for line in reversed(lines):
        cleaned = _clean(line)
        if cleaned and not line.lstrip().startswith(("```", '"""', "---", "</", "#")):
            return cleaned
    return ""


def _clean(line: str) -> str:
    line = re.sub(r"<[^>]{1,40}>", " ", line)
    line = line.strip().strip("\"'`>*-_ \t").strip()
    line = re.sub(r"^@ai\b[:,]?\s*", "", line, flags=re.IGNORECASE)
    return " ".join(line.split())


def _excerpt(text: str, limit: int = 80) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut or text[:limit]).rstrip(",.;:") + "…"


@dataclass
class RequestView:
    """What the fake reads from a chat request to shape its answer."""

    issue_key: str | None
    request: str
    intent: str
    user_text: str
    wants_email: bool
    facts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, messages: list[dict[str, Any]]) -> RequestView:
        """Analyse chat ``messages``."""
        texts = [(str(m.get("role", "")), message_text(m)) for m in messages if isinstance(m, dict)]
        user_texts = [t for role, t in texts if role == "user"]
        other_texts = [t for role, t in texts if role != "user"]
        key = None
        for text in user_texts + other_texts:
            found = ISSUE_KEY.search(text)
            if found:
                key = found.group(0)
                break
        last_user = user_texts[-1] if user_texts else ""
        line = request_line(last_user)
        intent = detect_intent(line)
        if intent == "unclear" and line != last_user:
            intent = detect_intent(last_user)
        system_text = " ".join(t for role, t in texts if role in ("system", "developer"))
        wants_email = intent == "email_request" or (
            intent == "unclear" and re.search(r"\be-?mail", system_text, re.IGNORECASE) is not None
        )
        facts: dict[str, str] = {}
        for text in user_texts:
            for match in _FACT.finditer(text):
                name = match.group(1).lower().replace("due date", "due")
                facts.setdefault(name, _excerpt(_clean(match.group(2)), 80))
        return cls(key, line, intent, last_user, wants_email, facts)

    @property
    def subject_key(self) -> str:
        """The issue key, or a neutral phrase when there is none."""
        return self.issue_key or "this issue"


# ====================================================================== content
def compose_reply(view: RequestView) -> str:
    """A deterministic Markdown answer (or email) for a chat request."""
    if view.wants_email:
        return compose_email(view)
    key = view.subject_key
    opening = {
        "summary_request": f"Here is a short summary of {key}.",
        "task_completion": f"{key} looks ready to be marked as done.",
        "help": f"I can help with {key} in a few ways.",
    }.get(view.intent, f"Here is an update on {key}.")
    if view.request:
        opening += f' You asked: "{_excerpt(view.request)}".'
    return opening + "\n\n" + "\n".join(f"- {b}" for b in _bullets(view))


def compose_email(view: RequestView) -> str:
    """A deterministic email: a ``Subject:`` line, a blank line, then the body."""
    key = view.subject_key
    topic = view.facts.get("summary")
    subject = f"Update on {key}: {topic}" if topic else f"Update on {key}"
    body = [
        "Hello,",
        "",
        f"I'm writing with an update on {key}" + (f" ({topic})." if topic else "."),
        "",
        *(f"- {b}" for b in _bullets(view)),
        "",
        "Please let me know if you have any questions.",
        "",
        "Best regards,",
    ]
    return f"Subject: {subject}\n\n" + "\n".join(body)


def _bullets(view: RequestView) -> list[str]:
    if view.intent == "help":
        return [
            "Summarise the issue and its latest comments",
            "Draft an email to a stakeholder",
            "Write a status comment",
            "Mark the issue as done when the work is finished",
        ]
    labels = {"summary": "Summary", "status": "Status", "assignee": "Assignee", "priority": "Priority",
              "due": "Due"}
    out = [f"**{labels[name]}:** {view.facts[name]}" for name in labels if name in view.facts][:3]
    if len(out) < 2:
        out.append("The latest comments were reviewed.")
    out.append("**Next step:** confirm the remaining work and keep the issue up to date.")
    return out


def fill_schema(schema: Any, view: RequestView, *, root: Any = None, name: str = "", depth: int = 0) -> Any:
    """A value conforming to JSON ``schema`` (the subset used by strict structured outputs)."""
    root = schema if root is None else root
    if depth > 12 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return fill_schema(_resolve_ref(root, schema["$ref"]), view, root=root, name=name, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _pick_enum(schema["enum"], name, view)
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            chosen = next((o for o in options if isinstance(o, dict) and o.get("type") != "null"), options[0])
            return fill_schema(chosen, view, root=root, name=name, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required", list(props))
        return {
            k: fill_schema(props[k], view, root=root, name=k, depth=depth + 1) for k in required if k in props
        }
    if kind == "array":
        count = int(schema.get("minItems", 0) or 0)
        item = schema.get("items", {})
        return [fill_schema(item, view, root=root, name=name, depth=depth + 1) for _ in range(count)]
    if kind == "number":
        return _clamp(0.9, schema)
    if kind == "integer":
        return int(_clamp(1, schema))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string_for(name, schema, view)


def _resolve_ref(root: Any, ref: str) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
    return node


def _pick_enum(values: list[Any], name: str, view: RequestView) -> Any:
    if name.lower() == "intent":
        if view.intent in values:
            return view.intent
        return "unclear" if "unclear" in values else values[0]
    haystack = " " + " ".join(_WORDS.findall(view.user_text.lower())) + " "
    for value in values:
        if isinstance(value, str) and f" {value.lower().replace('_', ' ')} " in haystack:
            return value
    return values[0]


def _clamp(value: float, schema: dict[str, Any]) -> float:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float):
        value = max(value, low)
    if isinstance(high, int | float):
        value = min(value, high)
    return value


def _string_for(name: str, schema: dict[str, Any], view: RequestView) -> str:
    lowered = name.lower()
    fmt = schema.get("format")
    if fmt == "date":
        text = "2025-01-15"
    elif fmt == "date-time":
        text = "2025-01-15T09:00:00Z"
    elif fmt == "email":
        text = "someone@example.com"
    elif fmt in ("uri", "url"):
        text = "https://example.com/"
    elif lowered in ("language", "lang", "locale"):
        text = "en"
    elif lowered in ("subject", "title"):
        text = f"Update on {view.subject_key}"
    elif lowered in _PROSE_FIELDS:
        text = compose_reply(view)
    elif lowered in ("issue_key", "issue", "key"):
        text = view.issue_key or ""
    elif view.request:
        text = f'Based on the request "{_excerpt(view.request, 60)}".'
    else:
        text = f"About {view.subject_key}."
    max_len, min_len = schema.get("maxLength"), schema.get("minLength")
    if isinstance(max_len, int) and len(text) > max_len:
        text = text[:max_len]
    if isinstance(min_len, int) and len(text) < min_len:
        text = text.ljust(min_len, ".")
    return text


def embed_text(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """A unit vector from hashed word unigrams (weight 1) and bigrams (weight 0.5)."""
    words = _WORDS.findall(text.lower())
    features = [(w, 1.0) for w in words] + [(f"{a} {b}", 0.5) for a, b in itertools.pairwise(words)]
    vector = [0.0] * dims
    for feature, weight in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dims
        vector[index] += weight if digest[4] & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [round(v / norm, 7) for v in vector]


# ====================================================================== server
class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without one access-log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Do not log successful requests."""


class FakeLLMServer:
    """The fake server. ``start()`` serves in a background thread; use it as a context manager.

    ``api_key``: when set, requests must carry exactly this key (else any non-empty key is
    accepted). ``latency``: seconds added to every API request (change it at any time).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 api_key: str | None = None) -> None:
        self.host = host
        self.port = port
        self.latency = float(latency)
        self.api_key = api_key
        self.faults = FaultQueue()
        self._lock = threading.Lock()
        self._records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED)
        self._count = 0
        self._seen_prefixes: set[str] = set()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeLLMServer:
        """Bind the port and serve in a daemon thread. Returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = make_server(self.host, self.port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_port
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05),
                                        name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (requests still sleeping are woken up)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from elsewhere."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (an Azure OpenAI endpoint)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return self.endpoint + "/v1"

    # ------------------------------------------------------------------ state
    @property
    def request_count(self) -> int:
        """How many API requests arrived since start or the last reset (control routes excluded)."""
        with self._lock:
            return self._count

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The recorded API requests (method, path, query, auth kind, JSON body, answer status)."""
        with self._lock:
            return [dict(r) for r in self._records]

    def reset(self) -> None:
        """Forget faults, recorded requests, the counter and the prompt-cache memory; latency to 0."""
        self.faults.clear()
        with self._lock:
            self._records.clear()
            self._count = 0
            self._seen_prefixes.clear()
        self.latency = 0.0

    # ------------------------------------------------------------------ app
    def _build_app(self) -> Flask:
        app = Flask("fake_llm")

        @app.post("/v1/chat/completions")
        @app.post("/chat/completions")
        def chat() -> Response:
            return self._serve("chat", lambda body, fault: self._chat(body, None, fault))

        @app.post("/openai/deployments/<deployment>/chat/completions")
        def azure_chat(deployment: str) -> Response:
            return self._serve("chat", lambda body, fault: self._chat(body, deployment, fault), azure=True)

        @app.post("/v1/embeddings")
        @app.post("/embeddings")
        def embeddings() -> Response:
            return self._serve("embeddings", lambda body, _fault: self._embeddings(body, None))

        @app.post("/openai/deployments/<deployment>/embeddings")
        def azure_embeddings(deployment: str) -> Response:
            return self._serve("embeddings", lambda body, _fault: self._embeddings(body, deployment),
                               azure=True)

        @app.get("/v1/models")
        @app.get("/models")
        def models() -> Response:
            return self._serve("models", lambda _body, _fault: _json(
                {"object": "list", "data": [{"id": m, "object": "model", "created": 1700000000,
                                             "owned_by": "system"} for m in MODELS]}), has_body=False)

        @app.route("/_fake/faults", methods=["GET", "POST", "DELETE"])
        def control_faults() -> Response:
            return self._control_faults()

        @app.post("/_fake/reset")
        def control_reset() -> Response:
            self.reset()
            return _json({"ok": True})

        @app.get("/_fake/requests")
        def control_requests() -> Response:
            records = self.requests
            return _json({"count": self.request_count, "requests": records})

        @app.errorhandler(HTTPException)
        def http_error(exc: HTTPException) -> Response:
            return _error(exc.code or 500, exc.description or exc.name)

        return app

    def _control_faults(self) -> Response:
        if request.method == "GET":
            return _json({"faults": self.faults.pending(), "latency": self.latency})
        if request.method == "DELETE":
            self.faults.clear()
            return _json({"faults": []})
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return _error(400, "send a JSON object: a fault, {'faults': [...]} and/or {'latency': s}")
        specs = payload.get("faults", [payload] if "kind" in payload else [])
        if not isinstance(specs, list):
            return _error(400, "'faults' must be a list")
        try:
            if "latency" in payload:
                latency = float(payload["latency"])
                if latency < 0:
                    raise ValueError("latency must not be negative")
                self.latency = latency
            for spec in specs:
                if not isinstance(spec, dict):
                    raise ValueError("each fault must be an object")
                allowed = {"kind", "count", "status", "seconds", "retry_after", "endpoint"}
                unknown = set(spec) - allowed
                if unknown:
                    raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
                self.faults.push(**spec)
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return _json({"faults": self.faults.pending(), "latency": self.latency})

    def _serve(self, endpoint: str, handler: Any, *, azure: bool = False, has_body: bool = True) -> Response:
        """Record, authenticate, apply latency and faults, then run ``handler(body)``."""
        body = request.get_json(silent=True) if has_body else None
        record = {
            "method": request.method, "path": request.path, "query": dict(request.args),
            "auth": _auth_kind(), "body": body, "status": None,
        }
        with self._lock:
            self._count += 1
            record["n"] = self._count
            self._records.append(record)
        response = self._respond(endpoint, handler, body, azure=azure)
        with self._lock:
            record["status"] = response.status_code
        return response

    def _respond(self, endpoint: str, handler: Any, body: Any, *, azure: bool) -> Response:
        key = _presented_key()
        if not key:
            return _error(401, "You didn't provide an API key. Send it in the Authorization header "
                               "(Bearer) or the api-key header.", code=None)
        if self.api_key is not None and key != self.api_key:
            return _error(401, _ERROR_MESSAGES[401])
        if azure and not request.args.get("api-version"):
            return _error(400, "Missing the api-version query parameter.", code="missing_api_version")
        if self.latency > 0:
            self._stopping.wait(self.latency)
        fault = self.faults.take(endpoint)
        if fault is not None and fault.kind == "status":
            return _fault_error(fault)
        if fault is not None and fault.kind == "sleep":
            self._stopping.wait(fault.seconds)
            fault = None
        if endpoint != "models" and not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        try:
            return handler(body, fault.kind if fault is not None else None)
        except _BadRequest as exc:
            return _error(400, str(exc), param=exc.param)

    def _chat(self, body: dict[str, Any], deployment: str | None, fault: str | None) -> Response:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest("'messages' must be a non-empty array.", "messages")
        model = body.get("model") or deployment
        if not isinstance(model, str) or not model:
            raise _BadRequest("you must provide a model parameter.", "model")
        if body.get("stream"):
            raise _BadRequest("streaming is not supported by this server.", "stream")
        view = RequestView.of(messages)
        content, finish = self._content(body, view)
        if fault == "malformed":
            content = content[: max(1, len(content) // 2)]
        elif fault == "empty":
            content = ""
        prompt_text = "\n".join(message_text(m) for m in messages if isinstance(m, dict))
        prompt_tokens = max(1, estimate_tokens(prompt_text))
        cached = self._cached_tokens(messages, model, prompt_tokens)
        completion_tokens = estimate_tokens(content)
        return _json(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish,
                }],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                  "accepted_prediction_tokens": 0,
                                                  "rejected_prediction_tokens": 0},
                },
                "service_tier": "default",
                "system_fingerprint": "fp_5f1e2d3c4b",
            }
        )

    def _content(self, body: dict[str, Any], view: RequestView) -> tuple[str, str]:
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise _BadRequest("response_format.json_schema.schema must be an object.", "response_format")
            value = fill_schema(spec["schema"], view)
            return json.dumps(value, ensure_ascii=False), "stop"
        if isinstance(response_format, dict) and response_format.get("type") == "json_object":
            return json.dumps({"response": compose_reply(view)}, ensure_ascii=False), "stop"
        text = compose_reply(view)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and estimate_tokens(text) > limit:
            return text[: limit * 4], "length"
        return text, "stop"

    def _cached_tokens(self, messages: list[Any], model: str, prompt_tokens: int) -> int:
        """Mimic prompt caching: a repeated system prefix of >= 1024 tokens is reported as cached."""
        prefix_parts = []
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("system", "developer"):
                break
            prefix_parts.append(message_text(message))
        prefix = "\n".join(prefix_parts)
        prefix_tokens = estimate_tokens(prefix)
        if prefix_tokens < CACHE_MIN_TOKENS:
            return 0
        digest = hashlib.sha256(f"{model}\0{prefix}".encode()).hexdigest()
        with self._lock:
            seen = digest in self._seen_prefixes
            self._seen_prefixes.add(digest)
        if not seen:
            return 0
        return min(prompt_tokens, prefix_tokens // CACHE_INCREMENT * CACHE_INCREMENT)

    def _embeddings(self, body: dict[str, Any], deployment: str | None) -> Response:
        model = body.get("model") or deployment
        if not isinstance(model, str) or not model:
            raise _BadRequest("you must provide a model parameter.", "model")
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            raise _BadRequest("'input' must be a string or a non-empty array of strings.", "input")
        dims = body.get("dimensions", EMBEDDING_DIMS)
        if not isinstance(dims, int) or not 1 <= dims <= 3072:
            raise _BadRequest("'dimensions' must be an integer from 1 to 3072.", "dimensions")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = embed_text(text, dims)
            encoded: Any = (base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64
                            else vector)
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(max(1, estimate_tokens(t)) for t in inputs)
        return _json({"object": "list", "data": data, "model": model,
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


class _BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _auth_kind() -> str | None:
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return "bearer"
    if request.headers.get("api-key"):
        return "api-key"
    return None


def _presented_key() -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer "):].strip()
    return request.headers.get("api-key", "").strip()


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")
    response.headers["x-request-id"] = f"req_{uuid.uuid4().hex}"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _error(status: int, message: str, *, code: str | None = "", param: str | None = None,
           headers: dict[str, str] | None = None) -> Response:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
    kind, default_code = _ERROR_TYPES.get(status, fallback)
    error = {"message": message, "type": kind, "param": param, "code": default_code if code == "" else code}
    return _json({"error": error}, status, headers)


def _fault_error(fault: Fault) -> Response:
    headers: dict[str, str] = {}
    retry_after = fault.retry_after
    if retry_after is None and fault.status == 429:
        retry_after = 1.0
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    message = _ERROR_MESSAGES.get(fault.status, f"The server answered {fault.status}.")
    return _error(fault.status, message, headers=headers)


# ====================================================================== command line
def main(argv: list[str] | None = None) -> int:
    """Run the fake server in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m connect_app.devtools.fake_llm",
                                     description="OpenAI-compatible fake model server for tests and demos.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument("--api-key", default=None, help="require exactly this key (default: any key)")
    args = parser.parse_args(argv)
    server = FakeLLMServer(args.host, args.port, latency=args.latency, api_key=args.api_key).start()

    signal.signal(signal.SIGTERM, lambda _signum, _frame: server.stop())
    print(f"fake LLM server listening on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
