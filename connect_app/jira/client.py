"""Jira Cloud REST v3 client: the few operations the assistant needs, every call signed.

Built on ``atlassian-python-api``'s ``JiraCloud`` (its generic ``get``/``post``/``put`` with paths)
over a ``requests.Session`` whose ``.auth`` is the door's signer (Connect JWT or Forge bearer), so no
call can go out unsigned. Retries on 429/503 are the library's own loop, made to re-send every attempt
through the session so the signer runs again (see :class:`_SessionRetryingJira`).

Paths, query parameters and bodies follow Jira's OpenAPI spec (``swagger-v3.v3.json``); the
``operationId`` of each call is named in its docstring. Errors become :class:`JiraError` with a stable
code: ``jira_not_found``, ``jira_forbidden``, ``jira_rate_limited``, ``jira_bad_request``,
``jira_unavailable`` (and ``jira_error`` for a reply that is not JSON).

An optional circuit breaker (the site's ``jira:<tenant_id>`` breaker) guards every call: a call
is refused with :class:`CircuitOpenError` while it is open; 5xx, 429, timeouts and connection
errors count as failures; any other answer (2xx-4xx) shows Jira is up and counts as a success.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import requests
from atlassian.jira import JiraCloud
from requests.auth import AuthBase

from ..errors import BadRequestError, CircuitOpenError, ConfigError, JiraError

log = logging.getLogger(__name__)

DEFAULT_ISSUE_FIELDS: tuple[str, ...] = (
    "summary", "description", "status", "assignee", "reporter", "duedate", "priority", "issuetype",
    "labels", "project",
)
RETRY_STATUS_CODES: tuple[int, ...] = (429, 503)
MAX_PROPERTY_BYTES = 32_768  # Jira's limit on an entity property value
_MAX_DETAIL_CHARS = 500

_HINTS = {
    "jira_not_found": "it does not exist, or the app or user cannot see it",
    "jira_forbidden": "check the app is installed on this site with the scopes it needs, and that the "
    "user or app has permission",
    "jira_rate_limited": "Jira is rate limiting this site; try again later",
    "jira_bad_request": "Jira rejected the request",
    "jira_unavailable": "Jira is unavailable; try again later",
}


class CallGuard(Protocol):
    """What the client needs of a circuit breaker (:class:`~connect_app.ops.breaker.CircuitBreaker`)."""

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` to refuse the call."""

    def record_success(self) -> None:
        """Jira answered."""

    def record_failure(self) -> None:
        """Jira failed (5xx, 429, timeout, connection error)."""


def _is_breaker_failure(status: int) -> bool:
    return status >= 500 or status == 429


class _SessionRetryingJira(JiraCloud):
    """``JiraCloud`` whose retries go back through the session and whose debug log holds no secrets.

    With urllib3 2.x the library mounts a urllib3 ``Retry`` adapter that replays the already prepared
    (already signed) request, so the auth object would never sign a retry. Pinning
    ``use_urllib3_retry`` to False keeps that adapter out and uses the library's own loop in
    ``request()``, where every attempt is a fresh ``session.request`` that the auth object signs again.
    That loop waits ``Retry-After`` (capped at ``max_backoff_seconds``) once for a 429 that carries it,
    and otherwise backs off exponentially for up to ``max_backoff_retries`` attempts on 429/503.
    """

    @property
    def use_urllib3_retry(self) -> bool:
        """Always False: see the class docstring."""
        return False

    @use_urllib3_retry.setter
    def use_urllib3_retry(self, _value: bool) -> None:
        """Ignore the value the library derives from the urllib3 version."""

    def log_curl_debug(
        self,
        method: str,
        url: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        level: int = logging.DEBUG,
    ) -> None:
        """Log the method and URL only: never headers (credentials) nor bodies (issue content)."""
        size = 0 if data is None else len(data if isinstance(data, str) else json.dumps(data))
        log.log(level, "Jira request %s %s (%d-byte body)", method, url, size)


class JiraClient:
    """The Jira REST v3 operations the assistant uses, for one site, signed by ``auth``.

    ``base_url`` is the site (``https://x.atlassian.net``) or a gateway base (for Forge:
    ``https://api.atlassian.com/ex/jira/{cloudId}``); ``api_prefix`` is appended to it for every
    call. ``max_retries`` bounds the retries on 429/503, each wait capped at ``max_backoff_seconds``.
    ``breaker`` (optional) guards every call (see the module docstring).
    """

    def __init__(
        self,
        base_url: str,
        auth: AuthBase,
        *,
        timeout: float = 20,
        max_retries: int = 3,
        max_backoff_seconds: float = 30,
        api_prefix: str = "/rest/api/3",
        breaker: CallGuard | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
            raise ConfigError("Jira base URL must be an absolute http(s) URL, e.g. https://x.atlassian.net")
        if not isinstance(auth, AuthBase):
            raise ConfigError("JiraClient needs a requests AuthBase that signs every request")
        if timeout <= 0 or max_retries < 0 or max_backoff_seconds < 0:
            raise ConfigError("JiraClient needs timeout > 0, max_retries >= 0 and max_backoff_seconds >= 0")
        self.base_url = base_url.rstrip("/")
        self._prefix = "/" + api_prefix.strip("/") if api_prefix.strip("/") else ""
        self._timeout = timeout
        self._max_retries = max_retries
        self._breaker = breaker
        session = requests.Session()
        session.auth = auth
        self._jira = _SessionRetryingJira(
            self.base_url,
            session=session,
            cloud=True,
            backoff_and_retry=True,
            retry_status_codes=list(RETRY_STATUS_CODES),
            max_backoff_retries=max_retries,
            max_backoff_seconds=max_backoff_seconds,
            retry_with_header=max_retries > 0,
        )
        self._jira.timeout = timeout  # the library truncates it to an int

    def __repr__(self) -> str:
        return f"JiraClient({self.base_url!r})"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._jira.close()

    # -- issues -------------------------------------------------------------------------------

    def get_issue(self, key: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """The issue with the given fields (``getIssue``); defaults to :data:`DEFAULT_ISSUE_FIELDS`."""
        params = {"fields": ",".join(fields if fields is not None else DEFAULT_ISSUE_FIELDS)}
        return self._json("GET", f"/issue/{_seg(key, 'issue key')}", params=params)

    def get_transitions(self, key: str) -> list[dict[str, Any]]:
        """The transitions the caller can perform on the issue now (``getTransitions``)."""
        body = self._json("GET", f"/issue/{_seg(key, 'issue key')}/transitions")
        return list(body.get("transitions") or [])

    def do_transition(self, key: str, transition_id: str) -> None:
        """Move the issue through a transition (``doTransition``; Jira answers 204)."""
        body = {"transition": {"id": _seg(transition_id, "transition id", quoted=False)}}
        self._call("POST", f"/issue/{_seg(key, 'issue key')}/transitions", body=body)

    # -- comments -----------------------------------------------------------------------------

    def get_comments(
        self, key: str, *, max_results: int = 20, newest_first: bool = True, expand_properties: bool = True
    ) -> list[dict[str, Any]]:
        """Up to ``max_results`` comments, in the order Jira returns them (``getComments``).

        ``newest_first`` asks for ``orderBy=-created``. ``expand_properties`` asks for
        ``expand=properties`` so each comment carries its entity properties (the spec lists only
        ``renderedBody`` for this parameter, but ``properties`` is part of the Comment schema and
        Jira Cloud honours it).
        """
        if not isinstance(max_results, int) or max_results < 1:
            raise BadRequestError("max_results must be a positive integer")
        params: dict[str, Any] = {
            "maxResults": max_results,
            "orderBy": "-created" if newest_first else "created",
        }
        if expand_properties:
            params["expand"] = "properties"
        body = self._json("GET", f"/issue/{_seg(key, 'issue key')}/comment", params=params)
        return list(body.get("comments") or [])

    def get_comment(self, key: str, comment_id: str, *, expand_properties: bool = True) -> dict[str, Any]:
        """One comment of the issue (``getComment``), with its properties unless told otherwise."""
        params = {"expand": "properties"} if expand_properties else None
        path = f"/issue/{_seg(key, 'issue key')}/comment/{_seg(comment_id, 'comment id')}"
        return self._json("GET", path, params=params)

    def add_comment(
        self, key: str, adf_body: Mapping[str, Any], *, properties: Iterable[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Post an ADF comment (``addComment``) and return the created comment.

        ``properties`` (``[{"key": ..., "value": ...}]``) are stored on the comment in the same call,
        so a reply marker can never be missing from a posted reply.
        """
        body: dict[str, Any] = {"body": _adf_doc(adf_body)}
        if properties:
            body["properties"] = _entity_properties(properties)
        return self._json("POST", f"/issue/{_seg(key, 'issue key')}/comment", body=body)

    def update_comment(
        self, key: str, comment_id: str, adf_body: Mapping[str, Any], *, notify_users: bool = True
    ) -> dict[str, Any]:
        """Replace a comment's body (``updateComment``) and return the updated comment."""
        path = f"/issue/{_seg(key, 'issue key')}/comment/{_seg(comment_id, 'comment id')}"
        params = None if notify_users else {"notifyUsers": "false"}
        return self._json("PUT", path, params=params, body={"body": _adf_doc(adf_body)})

    # -- permissions and identity -------------------------------------------------------------

    def user_has_permissions(
        self,
        account_id: str,
        *,
        issue_id: int | str | None = None,
        project_permissions: Sequence[str] = (),
        global_permissions: Sequence[str] = (),
    ) -> dict[str, bool]:
        """Which of the permissions the user holds (``getBulkPermissions``).

        Project permissions (e.g. ``TRANSITION_ISSUES``) are checked on the issue ``issue_id``;
        global ones (e.g. ``ADMINISTER``) site-wide. Returns ``{permission: granted}``.
        """
        account = _seg(account_id, "account id", quoted=False)
        if not project_permissions and not global_permissions:
            raise BadRequestError("name at least one project or global permission to check")
        request: dict[str, Any] = {"accountId": account}
        issue_num: int | None = None
        if project_permissions:
            issue_num = _issue_number(issue_id)
            project_check = {"issues": [issue_num], "permissions": list(project_permissions)}
            request["projectPermissions"] = [project_check]
        if global_permissions:
            request["globalPermissions"] = list(global_permissions)
        grants = self._json("POST", "/permissions/check", body=request)
        granted_global = set(grants.get("globalPermissions") or [])
        result = {perm: perm in granted_global for perm in global_permissions}
        for perm in project_permissions:
            result[perm] = any(
                grant.get("permission") == perm and issue_num in (grant.get("issues") or [])
                for grant in grants.get("projectPermissions") or []
            )
        return result

    def get_my_permissions(
        self, permissions: Sequence[str], *, issue_key: str | None = None
    ) -> dict[str, bool]:
        """Which permissions the caller (the app) holds, on an issue if given (``getMyPermissions``)."""
        if not permissions:
            raise BadRequestError("name at least one permission to check")
        params: dict[str, Any] = {"permissions": ",".join(permissions)}
        if issue_key is not None:
            params["issueKey"] = _seg(issue_key, "issue key", quoted=False)
        found = self._json("GET", "/mypermissions", params=params).get("permissions") or {}
        return {perm: bool((found.get(perm) or {}).get("havePermission")) for perm in permissions}

    def get_myself(self) -> dict[str, Any]:
        """The user (for an app: its bot user) the calls run as (``getCurrentUser``)."""
        return self._json("GET", "/myself")

    def ping(self) -> bool:
        """True when Jira answers an authenticated call (for readiness checks)."""
        try:
            self.get_myself()
        except (JiraError, CircuitOpenError) as exc:
            log.warning("Jira ping to %s failed: %s", self.base_url, exc.code)
            return False
        return True

    # -- entity properties --------------------------------------------------------------------

    def set_comment_property(self, comment_id: str, key: str, value: Any) -> None:
        """Store a JSON value on a comment (``setCommentProperty``)."""
        path = f"/comment/{_seg(comment_id, 'comment id')}/properties/{_seg(key, 'property key')}"
        self._call("PUT", path, body=_property_value(value))

    def get_comment_property(self, comment_id: str, key: str) -> Any | None:
        """A comment property's value, or None when it is not set (``getCommentProperty``)."""
        path = f"/comment/{_seg(comment_id, 'comment id')}/properties/{_seg(key, 'property key')}"
        return self._property(path)

    def set_issue_property(self, issue_key: str, key: str, value: Any) -> None:
        """Store a JSON value on an issue (``setIssueProperty``)."""
        path = f"/issue/{_seg(issue_key, 'issue key')}/properties/{_seg(key, 'property key')}"
        self._call("PUT", path, body=_property_value(value))

    def get_issue_property(self, issue_key: str, key: str) -> Any | None:
        """An issue property's value, or None when it is not set (``getIssueProperty``)."""
        path = f"/issue/{_seg(issue_key, 'issue key')}/properties/{_seg(key, 'property key')}"
        return self._property(path)

    # -- plumbing -----------------------------------------------------------------------------

    def _property(self, path: str) -> Any | None:
        try:
            return self._json("GET", path).get("value")
        except JiraError as exc:
            if exc.code == "jira_not_found":
                return None
            raise

    def _json(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        response = self._call(method, path, params=params, body=body)
        try:
            data = response.json()
        except ValueError:
            raise JiraError(
                f"Jira answered {method} {self._prefix}{path} with {response.status_code} but no JSON body",
                status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise JiraError(
                f"Jira answered {method} {self._prefix}{path} with JSON that is not an object",
                status=response.status_code,
            )
        return data

    def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        full = f"{self._prefix}{path}"
        send = getattr(self._jira, method.lower())  # the library's generic get/post/put/delete
        breaker = self._breaker
        if breaker is not None:
            breaker.before_call()  # CircuitOpenError propagates: the caller retries later
        try:
            response = send(full, data=body, params=params, advanced_mode=True)
        except requests.Timeout:
            if breaker is not None:
                breaker.record_failure()
            raise JiraError(
                f"Jira did not answer {method} {full} within {self._timeout}s; {_HINTS['jira_unavailable']}",
                code="jira_unavailable",
            ) from None
        except requests.RequestException as exc:
            if breaker is not None:
                breaker.record_failure()
            # The exception text can hold the signed URL: report its type only.
            raise JiraError(
                f"Could not reach Jira for {method} {full} ({type(exc).__name__}); "
                f"{_HINTS['jira_unavailable']}",
                code="jira_unavailable",
            ) from None
        if breaker is not None:
            if _is_breaker_failure(response.status_code):
                breaker.record_failure()
            else:
                breaker.record_success()
        if response.status_code >= 400:
            raise self._error(method, full, response)
        return response

    def _error(self, method: str, path: str, response: requests.Response) -> JiraError:
        status = response.status_code
        code = _code_for(status)
        message = f"Jira answered {method} {path} with {status}"
        if code == "jira_rate_limited" and self._max_retries:
            message += " after retrying"
        detail = _error_detail(response)
        if detail:
            message += f": {detail}"
        return JiraError(f"{message} ({_HINTS[code]})", status=status, code=code)


def _code_for(status: int) -> str:
    if status == 404:
        return "jira_not_found"
    if status in (401, 403):
        return "jira_forbidden"
    if status == 429:
        return "jira_rate_limited"
    if status >= 500:
        return "jira_unavailable"
    return "jira_bad_request"


def _error_detail(response: requests.Response) -> str:
    """Jira's ``errorMessages`` and ``errors`` (field: message), or the start of a non-JSON body."""
    try:
        data = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:200] if text and not text.startswith("<") else ""
    parts: list[str] = []
    if isinstance(data, dict):
        parts.extend(str(m) for m in data.get("errorMessages") or [])
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{field}: {msg}" for field, msg in errors.items())
        if not parts and isinstance(data.get("message"), str):
            parts.append(data["message"])
    return "; ".join(parts)[:_MAX_DETAIL_CHARS]


def _seg(value: Any, what: str, *, quoted: bool = True) -> str:
    """A non-empty identifier, percent-encoded for use as one path segment unless ``quoted`` is False."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"a non-empty {what} is required")
    value = value.strip()
    return quote(value, safe="") if quoted else value


def _issue_number(issue_id: int | str | None) -> int:
    try:
        number = int(str(issue_id).strip()) if issue_id is not None and not isinstance(issue_id, bool) else -1
    except ValueError:
        number = -1
    if number < 0:
        raise BadRequestError("project permissions are checked on an issue: pass its numeric issue_id")
    return number


def _adf_doc(adf_body: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(adf_body, Mapping) or adf_body.get("type") != "doc":
        raise BadRequestError('a comment body must be an ADF document ({"type": "doc", ...})')
    return dict(adf_body)


def _entity_properties(properties: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for prop in properties:
        if not isinstance(prop, Mapping) or not isinstance(prop.get("key"), str) or "value" not in prop:
            raise BadRequestError('each property must be {"key": <string>, "value": <JSON>}')
        out.append({"key": prop["key"], "value": _property_value(prop["value"])})
    return out


def _property_value(value: Any) -> Any:
    if value is None:
        raise BadRequestError("an entity property value must be a non-empty JSON value, not null")
    try:
        size = len(json.dumps(value).encode())
    except (TypeError, ValueError):
        raise BadRequestError("an entity property value must be JSON-serialisable") from None
    if size > MAX_PROPERTY_BYTES:
        raise BadRequestError(f"an entity property value is limited to {MAX_PROPERTY_BYTES} bytes of JSON")
    return value
