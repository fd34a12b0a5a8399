"""Helpers for the hostile-input tests: two Connect sites, real tokens (good and forged), the job journal.

Every token here is really signed (HS256 with a site's shared secret, RS256 with a generated key pair)
or deliberately malformed; nothing turns verification off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from connect_app.jira.adf import adf_to_text
from connect_app.pipeline.events import extract_request
from connect_app.platform.connect.jwt import encode_hs256, query_string_hash
from tests.conftest import APP_URL, KeyPair, install_token

WEBHOOK = "/connect/webhooks/comment-created"
INSTALLED = "/connect/lifecycle/installed"
UNINSTALLED = "/connect/lifecycle/uninstalled"
ENABLED = "/connect/lifecycle/enabled"
DISABLED = "/connect/lifecycle/disabled"
FORGE_COMMENT = "/forge/events/comment"
APP_ACCOUNT = "557058:app-user"
DANA = "5b10ac8d82e05b22cc7d4ef5"  # may transition issues
MALLORY = "5b10ac8d82e05b22cc7d4e99"  # writes hostile issue content; may not transition


@dataclass(frozen=True)
class Site:
    """A Connect site as Jira knows it: its clientKey, shared secret and base URL."""

    client_key: str
    secret: str
    base_url: str


ACME = Site("ck-acme-0001", "acme-shared-secret-0123456789-abcdefghijkl", "https://acme.atlassian.net")
GLOBEX = Site("ck-globex-0002", "globex-shared-secret-9876543210-zyxwvutsrq", "https://globex.atlassian.net")
NEWCO = Site("ck-newco-0003", "newco-shared-secret-5555555555-mnopqrstuv", "https://newco.atlassian.net")


def installed_body(site: Site = ACME, **over: Any) -> dict[str, Any]:
    """The ``installed`` payload Jira posts for ``site``."""
    body = {"key": "jira-ai-assistant", "clientKey": site.client_key, "sharedSecret": site.secret,
            "baseUrl": site.base_url, "displayUrl": site.base_url, "productType": "jira",
            "description": f"Atlassian JIRA at {site.base_url}", "eventType": "installed",
            "serverVersion": "100273", "pluginsVersion": "1001.0.0"}
    body.update(over)
    return body


def post_json(client: Any, path: str, body: Any, token: str | None = None, *,
              headers: dict[str, str] | list[tuple[str, str]] | None = None,
              content_type: str = "application/json") -> Any:
    """POST ``body`` (an object is JSON-encoded; str/bytes are sent as they are) with ``Authorization: JWT``."""
    hdrs: list[tuple[str, str]] = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if token:
        hdrs.append(("Authorization", f"JWT {token}"))
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, headers=hdrs, content_type=content_type)


def install(client: Any, key: KeyPair, site: Site = ACME, body: dict[str, Any] | None = None, **token_kw: Any) -> Any:
    """A signed install of ``site`` (``token_kw`` tampers with the token: aud, iss, qsh, kid, alg, ttl)."""
    body = body or installed_body(site)
    token = install_token(key, client_key=token_kw.pop("client_key", body["clientKey"]), **token_kw)
    return post_json(client, INSTALLED, body, token)


def hs_token(path: str, site: Site = ACME, *, method: str = "POST", secret: str | None = None,
             iss: str | None = None, qsh: str | None = None, exp_in: int = 120, **extra: Any) -> str:
    """An HS256 Connect token for ``method path`` from ``site`` (``extra`` adds or replaces claims)."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": site.client_key if iss is None else iss, "iat": now, "exp": now + exp_in,
                              "qsh": qsh or query_string_hash(method, path, APP_URL)}
    claims.update(extra)
    return encode_hs256(claims, secret or site.secret)


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token with no signature (``alg: none`` style)."""
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hmac_token(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A token HMAC-SHA256-signed with ``key``, whatever ``header`` says (algorithm-confusion attacks)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def comment_payload(text: str = "@ai summarize this", *, comment_id: str = "10100", issue_key: str = "SUP-1",
                    author: dict[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
    """A Connect ``comment_created`` webhook body (``body`` replaces the wiki-markup comment body)."""
    return {"timestamp": int(time.time() * 1000), "webhookEvent": "comment_created",
            "comment": {"id": comment_id, "body": text if body is None else body,
                        "author": author or {"accountId": "u-dana", "displayName": "Dana",
                                             "accountType": "atlassian"}},
            "issue": {"id": "10001", "key": issue_key,
                      "fields": {"summary": "Login fails", "project": {"key": issue_key.split("-")[0]}}}}


def forge_comment(text: str = "@ai summarize this", *, body: Any = None) -> dict[str, Any]:
    """A Forge ``avi:jira:commented:issue`` event (``body`` replaces the ADF comment body)."""
    if body is None:
        body = {"type": "doc", "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}
    return {"eventType": "avi:jira:commented:issue", "atlassianId": DANA,
            "issue": {"id": "10001", "key": "SUP-1", "fields": {"project": {"key": "SUP"}}},
            "comment": {"id": "10100", "body": body, "author": {"accountId": DANA, "accountType": "atlassian"}}}



def queued_events(svc: Any, kind: str = "comment") -> list[dict[str, Any]]:
    """The events of the journalled jobs of ``kind`` (what the door accepted)."""
    records = (svc.journal.get(key[len("job:"):]) for key, _ in svc.stores.durable.scan("job:"))
    return [r.event for r in records if r is not None and r.event.get("kind") == kind]


def nested(depth: int, *, opener: str = "[", closer: str = "]", leaf: str = "1") -> str:
    """A JSON text nested ``depth`` levels deep."""
    return opener * depth + leaf + closer * depth


def assert_safe_reply(adf: dict[str, Any], *, trigger: str = "@ai", forbidden: tuple[str, ...] = ()) -> str:
    """The reply's text, after checking it mentions no one, cannot trigger the app, and leaks nothing."""
    text = adf_to_text(adf)
    dumped = json.dumps(adf)
    assert '"mention"' not in dumped, "a mention node reached the reply"
    assert "[~" not in text, "a wiki mention reached the reply"
    assert extract_request(text, trigger=trigger) is None, f"the reply would trigger the app: {text!r}"
    for value in forbidden:
        assert value not in dumped, f"{value!r} reached the reply"
    return text
