"""JiraClient against Jira's OpenAPI spec: every call's method, path, query and body, errors, retries."""

from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests
import responses
from requests.auth import AuthBase

from connect_app.errors import BadRequestError, ConfigError, JiraError
from connect_app.jira.client import DEFAULT_ISSUE_FIELDS, JiraClient
from tests.conftest import SHARED_SPECS

BASE = "https://acme.atlassian.net"
API = f"{BASE}/rest/api/3"
_SPEC_FILE = SHARED_SPECS / "jira-openapi" / "swagger-v3.v3.json"


# -- the spec --------------------------------------------------------------------------------------


@functools.cache
def _spec() -> dict[str, Any]:
    return json.loads(_SPEC_FILE.read_text())


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """(regex, template) for every spec path, literal segments first so /comment beats /{id}."""
    out = []
    for template in _spec()["paths"]:
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        out.append((re.compile(f"^{regex}$"), template))
    return sorted(out, key=lambda item: item[1].count("{"))


def spec_operation(method: str, path: str) -> dict[str, Any]:
    """The spec's operation for an HTTP method and a concrete request path."""
    for regex, template in _templates():
        if regex.match(path) and method.lower() in _spec()["paths"][template]:
            return _spec()["paths"][template][method.lower()]
    raise AssertionError(f"{method} {path} is not an operation in Jira's OpenAPI spec")


def spec_example(operation_id: str, status: str = "200") -> Any:
    """The example response body the spec gives for an operation."""
    for ops in _spec()["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                example = op["responses"][status]["content"]["application/json"]["example"]
                return json.loads(example) if isinstance(example, str) else example
    raise AssertionError(f"no example for {operation_id} {status}")


def _schema_validator(schema: dict[str, Any]) -> jsonschema.Validator:
    root = {**schema, "components": _spec()["components"]}
    return jsonschema.Draft4Validator(root)


def assert_call_matches_spec(call: Any, operation_id: str) -> dict[str, list[str]]:
    """The call is ``operation_id``, with only declared query params (valid enums) and a valid body."""
    request = call.request
    url = urlsplit(request.url)
    op = spec_operation(request.method, url.path.removeprefix("/ex/jira/cloud-1"))
    assert op["operationId"] == operation_id
    query = parse_qs(url.query)
    declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    for name, values in query.items():
        assert name in declared, f"{operation_id} has no query parameter {name!r}"
        enum = declared[name].get("schema", {}).get("enum")
        if enum:
            assert set(values) <= set(enum), f"{name}={values} not in {enum}"
    body_spec = op.get("requestBody")
    if request.body:
        assert body_spec, f"{operation_id} takes no request body"
        body = json.loads(request.body)
        schema = body_spec["content"]["application/json"].get("schema", {})
        _schema_validator(schema).validate(body)
    else:
        assert not (body_spec or {}).get("required"), f"{operation_id} needs a request body"
    return query


# -- helpers ---------------------------------------------------------------------------------------


class CountingAuth(AuthBase):
    """Signs each request with a new token, so a re-signed retry is visible."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.count += 1
        request.headers["Authorization"] = f"JWT sekrit-token-{self.count}"
        return request


@pytest.fixture
def auth() -> CountingAuth:
    return CountingAuth()


@pytest.fixture
def client(auth: CountingAuth) -> JiraClient:
    return JiraClient(BASE, auth, timeout=2.5, max_retries=2, max_backoff_seconds=0.5)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the library's retry waits instead of sleeping."""
    waited: list[float] = []
    import atlassian.rest_client as rest_client

    monkeypatch.setattr(rest_client.time, "sleep", waited.append)
    return waited


ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]}


# -- operations ------------------------------------------------------------------------------------


def test_get_issue_asks_for_default_fields(client, mocked):
    example = spec_example("getIssue")
    mocked.get(f"{API}/issue/EX-1", json=example)
    assert client.get_issue("EX-1") == example
    query = assert_call_matches_spec(mocked.calls[0], "getIssue")
    assert query["fields"] == [",".join(DEFAULT_ISSUE_FIELDS)]


def test_get_issue_with_chosen_fields(client, mocked):
    mocked.get(f"{API}/issue/EX-1", json={"id": "10002", "key": "EX-1", "fields": {"summary": "S"}})
    assert client.get_issue("EX-1", fields=["summary"])["fields"] == {"summary": "S"}
    assert assert_call_matches_spec(mocked.calls[0], "getIssue")["fields"] == ["summary"]


def test_get_comments_newest_first_with_properties(client, mocked):
    mocked.get(f"{API}/issue/EX-1/comment", json=spec_example("getComments"))
    comments = client.get_comments("EX-1")
    assert [c["id"] for c in comments] == ["10000"]
    query = assert_call_matches_spec(mocked.calls[0], "getComments")
    assert query == {"maxResults": ["20"], "orderBy": ["-created"], "expand": ["properties"]}


def test_get_comments_oldest_first_without_properties(client, mocked):
    mocked.get(f"{API}/issue/EX-1/comment", json={"comments": [], "startAt": 0, "maxResults": 5, "total": 0})
    assert client.get_comments("EX-1", max_results=5, newest_first=False, expand_properties=False) == []
    assert assert_call_matches_spec(mocked.calls[0], "getComments") == {"maxResults": ["5"], "orderBy": ["created"]}


def test_get_comments_rejects_bad_page_size(client):
    with pytest.raises(BadRequestError):
        client.get_comments("EX-1", max_results=0)


def test_get_comment(client, mocked):
    mocked.get(f"{API}/issue/EX-1/comment/10000", json=spec_example("getComment"))
    assert client.get_comment("EX-1", "10000")["author"]["displayName"] == "Mia Krystof"
    assert assert_call_matches_spec(mocked.calls[0], "getComment") == {"expand": ["properties"]}


def test_add_comment_attaches_properties_in_the_same_call(client, mocked):
    mocked.post(f"{API}/issue/EX-1/comment", status=201, json=spec_example("addComment", "201"))
    marker = [{"key": "jira-ai-reply", "value": {"v": 1, "intent": "summary_request"}}]
    created = client.add_comment("EX-1", ADF, properties=marker)
    assert created["id"] == "10000"
    assert_call_matches_spec(mocked.calls[0], "addComment")
    assert json.loads(mocked.calls[0].request.body) == {"body": ADF, "properties": marker}


def test_add_comment_without_properties(client, mocked):
    mocked.post(f"{API}/issue/EX-1/comment", status=201, json=spec_example("addComment", "201"))
    client.add_comment("EX-1", ADF)
    assert json.loads(mocked.calls[0].request.body) == {"body": ADF}


@pytest.mark.parametrize(
    ("body", "properties"),
    [({"type": "paragraph"}, None), ("text", None), (ADF, [{"key": "k"}]), (ADF, [{"value": 1}])],
)
def test_add_comment_rejects_bad_input_before_calling(client, mocked, body, properties):
    with pytest.raises(BadRequestError):
        client.add_comment("EX-1", body, properties=properties)
    assert len(mocked.calls) == 0


def test_update_comment(client, mocked):
    mocked.put(f"{API}/issue/EX-1/comment/10000", json=spec_example("updateComment"))
    client.update_comment("EX-1", "10000", ADF, notify_users=False)
    assert assert_call_matches_spec(mocked.calls[0], "updateComment") == {"notifyUsers": ["false"]}
    assert json.loads(mocked.calls[0].request.body) == {"body": ADF}


def test_get_transitions(client, mocked):
    mocked.get(f"{API}/issue/EX-1/transitions", json=spec_example("getTransitions"))
    transitions = client.get_transitions("EX-1")
    assert [t["id"] for t in transitions] == ["2", "711"]
    assert assert_call_matches_spec(mocked.calls[0], "getTransitions") == {}


def test_do_transition_returns_nothing_on_204(client, mocked):
    mocked.post(f"{API}/issue/EX-1/transitions", status=204)
    assert client.do_transition("EX-1", "31") is None
    assert_call_matches_spec(mocked.calls[0], "doTransition")
    assert json.loads(mocked.calls[0].request.body) == {"transition": {"id": "31"}}


def test_user_has_permissions_checks_project_and_global(client, mocked):
    mocked.post(
        f"{API}/permissions/check",
        json={
            "globalPermissions": [],
            "projectPermissions": [
                {"permission": "TRANSITION_ISSUES", "issues": [10010], "projects": []},
                {"permission": "EDIT_ISSUES", "issues": [10099], "projects": []},
            ],
        },
    )
    granted = client.user_has_permissions(
        "5b10a2844c20165700ede21g",
        issue_id="10010",
        project_permissions=["TRANSITION_ISSUES", "EDIT_ISSUES"],
        global_permissions=["ADMINISTER"],
    )
    assert granted == {"TRANSITION_ISSUES": True, "EDIT_ISSUES": False, "ADMINISTER": False}
    assert_call_matches_spec(mocked.calls[0], "getBulkPermissions")
    assert json.loads(mocked.calls[0].request.body) == {
        "accountId": "5b10a2844c20165700ede21g",
        "projectPermissions": [{"issues": [10010], "permissions": ["TRANSITION_ISSUES", "EDIT_ISSUES"]}],
        "globalPermissions": ["ADMINISTER"],
    }


def test_user_has_permissions_global_only_reads_the_spec_example(client, mocked):
    mocked.post(f"{API}/permissions/check", json=spec_example("getBulkPermissions"))
    assert client.user_has_permissions("acc-1", global_permissions=["ADMINISTER"]) == {"ADMINISTER": True}
    assert_call_matches_spec(mocked.calls[0], "getBulkPermissions")
    assert json.loads(mocked.calls[0].request.body) == {"accountId": "acc-1", "globalPermissions": ["ADMINISTER"]}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project_permissions": ["TRANSITION_ISSUES"]},
        {"project_permissions": ["TRANSITION_ISSUES"], "issue_id": "EX-1"},
        {},
    ],
)
def test_user_has_permissions_rejects_incomplete_questions(client, mocked, kwargs):
    with pytest.raises(BadRequestError):
        client.user_has_permissions("acc-1", **kwargs)
    assert len(mocked.calls) == 0


def test_get_my_permissions(client, mocked):
    mocked.get(f"{API}/mypermissions", json=spec_example("getMyPermissions"))
    assert client.get_my_permissions(["EDIT_ISSUES", "TRANSITION_ISSUES"], issue_key="EX-1") == {
        "EDIT_ISSUES": True,
        "TRANSITION_ISSUES": False,
    }
    query = assert_call_matches_spec(mocked.calls[0], "getMyPermissions")
    assert query == {"permissions": ["EDIT_ISSUES,TRANSITION_ISSUES"], "issueKey": ["EX-1"]}


def test_get_myself_and_ping(client, mocked):
    mocked.get(f"{API}/myself", json=spec_example("getCurrentUser"))
    assert client.get_myself()["accountId"] == "5b10a2844c20165700ede21g"
    assert client.ping() is True
    assert_call_matches_spec(mocked.calls[0], "getCurrentUser")


def test_ping_is_false_when_jira_refuses(client, mocked):
    mocked.get(f"{API}/myself", status=401, json={"errorMessages": ["Client must be authenticated"]})
    assert client.ping() is False


def test_comment_and_issue_properties(client, mocked):
    value = {"v": 1, "intent": "summary_request"}
    mocked.put(f"{API}/comment/10000/properties/jira-ai-reply", status=201)
    mocked.get(f"{API}/comment/10000/properties/jira-ai-reply", json={"key": "jira-ai-reply", "value": value})
    mocked.put(f"{API}/issue/EX-1/properties/issue.support", status=200)
    mocked.get(f"{API}/issue/EX-1/properties/issue.support", json=spec_example("getIssueProperty"))
    client.set_comment_property("10000", "jira-ai-reply", value)
    assert client.get_comment_property("10000", "jira-ai-reply") == value
    client.set_issue_property("EX-1", "issue.support", "1m")
    assert client.get_issue_property("EX-1", "issue.support")["system.support.time"] == "1m"
    ops = ["setCommentProperty", "getCommentProperty", "setIssueProperty", "getIssueProperty"]
    for call, op in zip(mocked.calls, ops, strict=True):
        assert_call_matches_spec(call, op)
    assert json.loads(mocked.calls[0].request.body) == value
    assert json.loads(mocked.calls[2].request.body) == "1m"


def test_missing_properties_are_none(client, mocked):
    not_found = {"errorMessages": ["The property with key 'x' does not exist."], "errors": {}}
    mocked.get(f"{API}/comment/10000/properties/x", status=404, json=not_found)
    mocked.get(f"{API}/issue/EX-1/properties/x", status=404, json=not_found)
    assert client.get_comment_property("10000", "x") is None
    assert client.get_issue_property("EX-1", "x") is None


def test_property_get_still_raises_other_errors(client, mocked):
    mocked.get(f"{API}/comment/10000/properties/x", status=403, json={"errorMessages": ["No"]})
    with pytest.raises(JiraError) as info:
        client.get_comment_property("10000", "x")
    assert info.value.code == "jira_forbidden"


@pytest.mark.parametrize("value", [None, {"blob": "x" * 40_000}, {1, 2}])
def test_property_values_are_checked_before_calling(client, mocked, value):
    with pytest.raises(BadRequestError):
        client.set_issue_property("EX-1", "k", value)
    assert len(mocked.calls) == 0


def test_path_segments_are_percent_encoded(client, mocked):
    mocked.get(f"{API}/issue/EX-1/properties/a%2Fb%20c", json={"key": "a/b c", "value": 1})
    assert client.get_issue_property("EX-1", "a/b c") == 1


@pytest.mark.parametrize("key", ["", "  ", None])
def test_empty_issue_key_is_rejected(client, key):
    with pytest.raises(BadRequestError):
        client.get_issue(key)


def test_forge_style_base_with_api_prefix(auth, mocked):
    forge = JiraClient("https://api.atlassian.com/ex/jira/cloud-1", auth, api_prefix="/rest/api/3")
    mocked.get("https://api.atlassian.com/ex/jira/cloud-1/rest/api/3/myself", json={"accountId": "a"})
    assert forge.get_myself() == {"accountId": "a"}
    assert_call_matches_spec(mocked.calls[0], "getCurrentUser")


def test_timeout_reaches_the_session(client, mocked):
    mocked.get(f"{API}/myself", json={})
    client.get_myself()
    assert mocked.calls[0].request.req_kwargs["timeout"] == 2.5


@pytest.mark.parametrize(
    "kwargs",
    [{"base_url": "acme.atlassian.net"}, {"auth": ("user", "pw")}, {"timeout": 0}, {"max_retries": -1}],
)
def test_constructor_rejects_bad_configuration(auth, kwargs):
    args = {"base_url": BASE, "auth": auth, **kwargs}
    with pytest.raises(ConfigError):
        JiraClient(args.pop("base_url"), args.pop("auth"), **args)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "jira_bad_request"),
        (401, "jira_forbidden"),
        (403, "jira_forbidden"),
        (404, "jira_not_found"),
        (409, "jira_bad_request"),
        (500, "jira_unavailable"),
        (502, "jira_unavailable"),
    ],
)
def test_http_errors_map_to_codes(client, mocked, status, code):
    mocked.post(
        f"{API}/issue/EX-1/transitions", status=status, json={"errorMessages": ["Nope."], "errors": {}}
    )
    with pytest.raises(JiraError) as info:
        client.do_transition("EX-1", "31")
    assert (info.value.code, info.value.status) == (code, status)
    assert "Nope." in info.value.message
    assert len(mocked.calls) == 1  # only 429 and 503 are retried


def test_bad_request_message_carries_jiras_messages(client, mocked):
    mocked.post(
        f"{API}/issue/EX-1/comment",
        status=400,
        json={"errorMessages": ["Comment body can not be empty!"], "errors": {"body": "INVALID_INPUT"}},
    )
    with pytest.raises(JiraError) as info:
        client.add_comment("EX-1", {"type": "doc", "version": 1, "content": []})
    assert info.value.code == "jira_bad_request"
    assert "Comment body can not be empty!" in info.value.message
    assert "body: INVALID_INPUT" in info.value.message
    assert "/rest/api/3/issue/EX-1/comment" in info.value.message


def test_non_json_error_body(client, mocked):
    mocked.get(f"{API}/myself", status=404, body="<html>Not here</html>", content_type="text/html")
    with pytest.raises(JiraError) as info:
        client.get_myself()
    assert info.value.code == "jira_not_found"


def test_success_without_json_is_a_jira_error(client, mocked):
    mocked.get(f"{API}/myself", status=200, body="oops", content_type="text/plain")
    with pytest.raises(JiraError) as info:
        client.get_myself()
    assert info.value.code == "jira_error"


def test_503_is_retried_then_reported_unavailable(client, mocked, sleeps, auth):
    mocked.get(f"{API}/myself", status=503, json={"errorMessages": ["Down for maintenance"]})
    with pytest.raises(JiraError) as info:
        client.get_myself()
    assert (info.value.code, info.value.status) == ("jira_unavailable", 503)
    assert len(mocked.calls) == 3  # max_retries=2
    assert len(sleeps) == 2 and all(0 <= s <= 0.5 for s in sleeps)  # capped by max_backoff_seconds
    assert auth.count == 3


def test_429_with_retry_after_then_success_is_resigned(client, mocked, sleeps, auth):
    mocked.get(f"{API}/issue/EX-1", status=429, headers={"Retry-After": "0"}, json={"errorMessages": ["Slow"]})
    mocked.get(f"{API}/issue/EX-1", json={"id": "10002", "key": "EX-1", "fields": {}})
    assert client.get_issue("EX-1")["key"] == "EX-1"
    assert len(mocked.calls) == 2
    assert sleeps == [0.0]
    tokens = [call.request.headers["Authorization"] for call in mocked.calls]
    assert tokens == ["JWT sekrit-token-1", "JWT sekrit-token-2"]  # each attempt signed afresh


def test_429_retry_after_is_capped(client, mocked, sleeps):
    mocked.get(f"{API}/myself", status=429, headers={"Retry-After": "3600"})
    mocked.get(f"{API}/myself", json={"accountId": "a"})
    client.get_myself()
    assert sleeps == [0.5]


def test_429_that_persists_is_rate_limited(client, mocked, sleeps):
    mocked.get(f"{API}/myself", status=429, headers={"Retry-After": "0"}, json={"errorMessages": ["Slow"]})
    with pytest.raises(JiraError) as info:
        client.get_myself()
    assert (info.value.code, info.value.status) == ("jira_rate_limited", 429)
    assert 2 <= len(mocked.calls) <= 3


def test_no_retries_when_max_retries_is_zero(auth, mocked, sleeps):
    quiet = JiraClient(BASE, auth, max_retries=0)
    mocked.get(f"{API}/myself", status=429, headers={"Retry-After": "0"})
    with pytest.raises(JiraError) as info:
        quiet.get_myself()
    assert info.value.code == "jira_rate_limited"
    assert len(mocked.calls) == 1 and sleeps == []


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.Timeout("slow")])
def test_network_failures_are_unavailable(client, mocked, failure):
    mocked.get(f"{API}/myself", body=failure)
    with pytest.raises(JiraError) as info:
        client.get_myself()
    assert info.value.code == "jira_unavailable"
    assert info.value.status is None


# -- signing and logging ---------------------------------------------------------------------------


def test_every_call_is_signed_and_no_token_is_logged(client, mocked, auth, caplog, sleeps):
    caplog.set_level(logging.DEBUG)
    mocked.get(f"{API}/issue/EX-1", json={"id": "1", "key": "EX-1", "fields": {}})
    mocked.get(f"{API}/issue/EX-1/comment", json={"comments": []})
    mocked.post(f"{API}/issue/EX-1/comment", status=201, json={"id": "1"})
    mocked.put(f"{API}/comment/1/properties/k", status=200)
    mocked.post(f"{API}/issue/EX-1/transitions", status=204)
    mocked.get(f"{API}/myself", status=429, headers={"Retry-After": "0"})
    mocked.get(f"{API}/myself", status=401, json={"errorMessages": ["Unauthorized"]})
    client.get_issue("EX-1")
    client.get_comments("EX-1")
    client.add_comment("EX-1", ADF)
    client.set_comment_property("1", "k", True)
    client.do_transition("EX-1", "2")
    with pytest.raises(JiraError) as info:
        client.get_myself()
    assert len(mocked.calls) == 7
    for call in mocked.calls:
        assert call.request.headers["Authorization"].startswith("JWT sekrit-token-")
    assert auth.count == 7
    assert "sekrit" not in caplog.text and "Authorization" not in caplog.text
    assert "sekrit" not in str(info.value)
    assert "Jira request GET" in caplog.text  # our debug line replaced the library's curl line
    assert "curl" not in caplog.text


def test_real_connect_jwt_auth_signs_each_call(mocked, caplog):
    auth_module = pytest.importorskip("connect_app.jira.auth")
    jwt = pytest.importorskip("jwt")
    caplog.set_level(logging.DEBUG)
    secret = "shared-secret-" + "x" * 40
    signer = auth_module.ConnectJwtAuth(issuer="jira-ai-assistant", secret=secret, base_url=BASE)
    client = JiraClient(BASE, signer)
    mocked.get(f"{API}/issue/EX-1/comment", json={"comments": []})
    client.get_comments("EX-1")
    header = mocked.calls[0].request.headers["Authorization"]
    assert header.startswith("JWT ")
    token = header.removeprefix("JWT ")
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["iss"] == "jira-ai-assistant" and claims["qsh"]
    assert token not in caplog.text


def test_real_connect_jwt_is_fresh_on_each_retry(mocked, sleeps):
    auth_module = pytest.importorskip("connect_app.jira.auth")
    jwt = pytest.importorskip("jwt")
    secret = "shared-secret-" + "y" * 40
    ticks = iter([1_700_000_000.0, 1_700_000_007.0])
    signer = auth_module.ConnectJwtAuth(issuer="jira-ai-assistant", secret=secret, base_url=BASE, clock=lambda: next(ticks))
    client = JiraClient(BASE, signer)
    mocked.get(f"{API}/myself", status=429, headers={"Retry-After": "0"})
    mocked.get(f"{API}/myself", json={"accountId": "a"})
    client.get_myself()
    tokens = [call.request.headers["Authorization"].removeprefix("JWT ") for call in mocked.calls]
    claims = [jwt.decode(t, secret, algorithms=["HS256"], options={"verify_exp": False}) for t in tokens]
    assert [c["iat"] for c in claims] == [1_700_000_000, 1_700_000_007]
    assert claims[0]["qsh"] == claims[1]["qsh"]


def test_forge_bearer_token_is_fetched_for_each_attempt(mocked, sleeps):
    auth_module = pytest.importorskip("connect_app.jira.auth")
    tokens = iter(["system-token-1", "system-token-2"])
    client = JiraClient("https://api.atlassian.com/ex/jira/cloud-1", auth_module.BearerAuth(lambda: next(tokens)))
    url = "https://api.atlassian.com/ex/jira/cloud-1/rest/api/3/myself"
    mocked.get(url, status=429, headers={"Retry-After": "0"})
    mocked.get(url, json={"accountId": "a"})
    client.get_myself()
    assert [c.request.headers["Authorization"] for c in mocked.calls] == [
        "Bearer system-token-1",
        "Bearer system-token-2",
    ]
