"""The Jira simulator behaves like Jira Cloud for what the app uses.

REST calls carry real HS256 Connect JWTs; responses are checked against the schemas of Atlassian's
OpenAPI spec. A tiny Connect app (a Flask app on 127.0.0.1, under a context path) receives the signed
install (checked with PyJWT and the PEM the simulator serves) and webhooks (JWT and qsh checked).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, request
from jsonschema import Draft4Validator
from werkzeug.serving import WSGIRequestHandler, make_server

from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.platform.connect.jwt import encode_hs256, query_string_hash
from tests.conftest import SHARED_SPECS

SPEC_PATH = SHARED_SPECS / "jira-openapi" / "swagger-v3.v3.json"
APP_KEY = "sim-test-app"
ADF_HELLO = {"type": "doc", "version": 1,
             "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello from the app"}]}]}


# ---------------------------------------------------------------------- OpenAPI schema checks
@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        pytest.skip("Jira OpenAPI spec not available")
    return json.loads(SPEC_PATH.read_text())


def check_schema(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Validate ``body`` against the spec's response schema for (path, method, status), $refs resolved."""
    response = spec["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    root = {**schema, "components": spec["components"]}
    errors = sorted(Draft4Validator(root).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_schema_helper_catches_wrong_shapes(spec):
    with pytest.raises(AssertionError):
        check_schema(spec, "/rest/api/3/myself", "get", 200, {"accountId": "x", "unexpected": 1})
    with pytest.raises(AssertionError):
        check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}/comment", "get", 200, {"comments": [{"id": 5}]})


# ---------------------------------------------------------------------- a tiny Connect app
class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class FakeApp:
    """A Connect app under ``/addon`` that checks what the simulator sends, the way a real app would."""

    def __init__(self) -> None:
        self.flask = Flask("fake_connect_app")
        self.server = make_server("127.0.0.1", 0, self.flask, threaded=True, request_handler=_Quiet)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/addon"
        self.keys_url = ""
        self.reset()
        self._routes()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.lock = threading.Lock()
        self.scopes = ["READ", "WRITE", "DELETE"]
        self.lifecycle: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delays: list[float] = []
        self.secret: str | None = None
        self.client_key: str | None = None

    def descriptor(self) -> dict[str, Any]:
        return {
            "key": APP_KEY, "name": "Sim Test App", "baseUrl": self.base_url,
            "authentication": {"type": "jwt"}, "apiMigrations": {"signed-install": True, "context-qsh": True},
            "lifecycle": {"installed": "/installed", "uninstalled": "/uninstalled", "enabled": "/enabled",
                          "disabled": "/disabled"},
            "scopes": self.scopes,
            "modules": {"webhooks": [
                {"event": "comment_created", "url": "/webhooks/comment?src=jira&issue={issue.key}"},
                {"event": "jira:issue_updated", "url": "/webhooks/issue"},
            ]},
        }

    def _raw_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{request.environ['RAW_URI']}"

    def _verify_rs256(self, body: dict[str, Any]) -> dict[str, Any]:
        token = request.headers["Authorization"].removeprefix("JWT ")
        header = pyjwt.get_unverified_header(token)
        pem = requests.get(f"{self.keys_url}/{header['kid']}", timeout=5)
        pem.raise_for_status()
        claims = pyjwt.decode(token, pem.text, algorithms=["RS256"], audience=self.base_url)
        assert claims["iss"] == body["clientKey"]
        assert claims["qsh"] == query_string_hash("POST", self._raw_url(), self.base_url)
        return {"header": header, "claims": claims}

    def _verify_hs256(self) -> dict[str, Any]:
        token = request.headers["Authorization"].removeprefix("JWT ")
        assert self.secret is not None
        claims = pyjwt.decode(token, self.secret, algorithms=["HS256"])
        assert claims["iss"] == self.client_key
        assert claims["qsh"] == query_string_hash("POST", self._raw_url(), self.base_url)
        return claims

    def _routes(self) -> None:
        app = self.flask

        @app.get("/addon/atlassian-connect.json")
        def descriptor():  # type: ignore[no-untyped-def]
            return self.descriptor()

        def lifecycle(event: str, asymmetric: bool):  # type: ignore[no-untyped-def]
            body = request.get_json()
            try:
                checked = self._verify_rs256(body) if asymmetric else {"claims": self._verify_hs256()}
            except Exception as exc:
                with self.lock:
                    self.lifecycle.append({"event": event, "ok": False, "error": repr(exc), "body": body})
                return {"error": repr(exc)}, 401
            with self.lock:
                if event == "installed":
                    self.secret, self.client_key = body["sharedSecret"], body["clientKey"]
                self.lifecycle.append({"event": event, "ok": True, "body": body, **checked})
            return "", 204

        app.add_url_rule("/addon/installed", "installed", lambda: lifecycle("installed", True), methods=["POST"])
        app.add_url_rule("/addon/uninstalled", "uninstalled", lambda: lifecycle("uninstalled", True),
                         methods=["POST"])
        app.add_url_rule("/addon/enabled", "enabled", lambda: lifecycle("enabled", False), methods=["POST"])
        app.add_url_rule("/addon/disabled", "disabled", lambda: lifecycle("disabled", False), methods=["POST"])

        def webhook():  # type: ignore[no-untyped-def]
            with self.lock:
                status = self.statuses.pop(0) if self.statuses else 204
                delay = self.delays.pop(0) if self.delays else 0.0
            entry: dict[str, Any] = {"url": self._raw_url(), "headers": dict(request.headers),
                                     "body": request.get_json(silent=True), "answered": status}
            try:
                entry["claims"] = self._verify_hs256()
            except Exception as exc:
                entry["error"] = repr(exc)
                status = 401
            hooks = self.webhooks  # this test's list, even if the next test has reset the app meanwhile
            time.sleep(delay)
            with self.lock:
                hooks.append(entry)
            return "", status

        app.add_url_rule("/addon/webhooks/comment", "wh_comment", webhook, methods=["POST"])
        app.add_url_rule("/addon/webhooks/issue", "wh_issue", webhook, methods=["POST"])

    def received(self, event: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            hooks = list(self.webhooks)
        return [h for h in hooks if event is None or (h["body"] or {}).get("webhookEvent") == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_app():
    app = FakeApp()
    yield app
    app.close()


def make_sim(fake_app: FakeApp, **options: Any) -> JiraSimulator:
    options.setdefault("webhook_retry_base_delay", 0.01)
    sim = JiraSimulator(**options).start()
    fake_app.reset()
    fake_app.keys_url = sim.install_keys_url
    sim.add_project("PROJ", "Project")
    return sim


@pytest.fixture
def sim(fake_app):
    simulator = make_sim(fake_app)
    yield simulator
    simulator.stop()


@pytest.fixture
def installed(sim, fake_app):
    result = sim.install(fake_app.base_url)
    assert result["installed"], result
    return sim


def call(sim: JiraSimulator, method: str, path: str, *, params: Any = None, json_body: Any = None,
         qsh_path: str | None = None, secret: str | None = None, issuer: str = APP_KEY,
         exp_offset: int = 180, qsh: str | None = None, data: bytes | None = None) -> requests.Response:
    """A REST call signed like a Connect app signs it (HS256, qsh of the exact prepared URL)."""
    inst = sim.installation(APP_KEY)
    headers = {"Content-Type": "application/json"} if data is not None else {}
    prepared = requests.Request(method, sim.base_url + path, params=params, json=json_body, data=data,
                                headers=headers).prepare()
    signed_url = prepared.url if qsh_path is None else sim.base_url + qsh_path
    now = int(time.time())
    claims = {"iss": issuer, "iat": now, "exp": now + exp_offset,
              "qsh": qsh or query_string_hash(method, signed_url, sim.base_url)}
    prepared.headers["Authorization"] = "JWT " + encode_hs256(claims, secret or inst["shared_secret"])
    with requests.Session() as session:
        return session.send(prepared, timeout=10)


# ---------------------------------------------------------------------- Connect install
def test_install_is_signed_like_jira(installed, fake_app):
    sim = installed
    installed_call, enabled_call = fake_app.lifecycle[0], fake_app.lifecycle[1]
    assert installed_call["event"] == "installed" and installed_call["ok"], installed_call
    assert installed_call["header"]["alg"] == "RS256" and installed_call["header"]["kid"]
    claims = installed_call["claims"]
    assert claims["aud"] == [fake_app.base_url]
    assert claims["exp"] > claims["iat"] and claims["sub"] == sim.admin_account_id
    body = installed_call["body"]
    assert body["key"] == APP_KEY and body["productType"] == "jira" and body["eventType"] == "installed"
    assert body["baseUrl"] == sim.base_url and body["cloudId"] and body["sharedSecret"]
    assert "publicKey" not in body
    assert enabled_call["event"] == "enabled" and enabled_call["ok"]  # HS256 with the new shared secret
    inst = sim.installation()
    assert inst["client_key"] == body["clientKey"] and inst["enabled"]
    assert inst["app_account_id"].startswith("557058:")
    # Reinstalling keeps the clientKey and the app user but issues a new shared secret.
    again = sim.install(fake_app.base_url)
    assert again["installed"]
    assert sim.installation()["client_key"] == inst["client_key"]
    assert sim.installation()["shared_secret"] != inst["shared_secret"]
    assert sim.installation()["app_account_id"] == inst["app_account_id"]


def test_tampered_installs_are_refused_by_the_app(sim, fake_app):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for tamper in ({"sign_with": other_key}, {"aud": ["https://evil.example.com"]}, {"algorithm": "HS256"},
                   {"kid": "no-such-kid"}, {"qsh": "0" * 64}, {"iss": "someone-else"}):
        result = sim.install(fake_app.base_url, **tamper)
        assert result["status"] == 401 and not result["installed"], tamper
        assert sim.installation() is None
    assert not any(entry["ok"] for entry in fake_app.lifecycle)


def test_uninstall_disable_and_enable(installed, fake_app):
    sim = installed
    assert call(sim, "GET", "/rest/api/3/myself").status_code == 200
    secret = sim.installation()["shared_secret"]
    sim.disable()
    assert fake_app.lifecycle[-1]["event"] == "disabled" and fake_app.lifecycle[-1]["ok"]
    assert call(sim, "GET", "/rest/api/3/myself", secret=secret).status_code == 401
    sim.add_issue("PROJ", "While disabled")
    sim.add_comment("PROJ-1", sim.admin_account_id, "no webhook for this")
    assert sim.wait_idle(2) and fake_app.received() == []
    sim.enable()
    assert call(sim, "GET", "/rest/api/3/myself").status_code == 200
    result = sim.uninstall()
    assert result["status"] == 204
    events = [e["event"] for e in fake_app.lifecycle]
    assert events[-2:] == ["disabled", "uninstalled"] and fake_app.lifecycle[-1]["ok"]
    assert call(sim, "GET", "/rest/api/3/myself", secret=secret).status_code == 401


# ---------------------------------------------------------------------- REST auth
def test_rest_requires_a_valid_connect_jwt(installed):
    sim = installed
    url = sim.base_url + "/rest/api/3/issue/PROJ-1"
    unsigned = requests.get(url, timeout=5)
    assert unsigned.status_code == 401
    assert unsigned.json() == {"errorMessages": ["Client must be authenticated to access this resource."],
                               "errors": {}}
    sim.add_issue("PROJ", "Secret plans")
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1").status_code == 200
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1", params={"fields": "summary"},
                qsh_path="/rest/api/3/issue/PROJ-1").status_code == 401  # qsh without the query
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1", qsh_path="/rest/api/3/issue/PROJ-2").status_code == 401
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1", qsh="context-qsh").status_code == 401
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1", secret="a-wrong-secret-that-is-long-enough-for-hs256").status_code == 401
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1", issuer="other-app").status_code == 401
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1", exp_offset=-600).status_code == 401
    notes = [c["note"] for c in sim.calls("/rest/api/3/issue/PROJ-1") if c["status"] == 401]
    assert any("qsh" in n for n in notes) and any("expired" in n for n in notes)


def test_scopes_from_the_descriptor_are_enforced(sim, fake_app):
    fake_app.scopes = ["READ"]
    assert sim.install(fake_app.base_url)["installed"]
    sim.add_issue("PROJ", "Read only")
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1").status_code == 200
    denied = call(sim, "POST", "/rest/api/3/issue/PROJ-1/comment", json_body={"body": ADF_HELLO})
    assert denied.status_code == 403 and "WRITE" in denied.json()["errorMessages"][0]
    assert call(sim, "POST", "/rest/api/3/permissions/check",
                json_body={"globalPermissions": ["ADMINISTER"]}).status_code == 200


# ---------------------------------------------------------------------- REST operations
def test_myself_is_the_app_user(installed, spec):
    response = call(installed, "GET", "/rest/api/3/myself")
    assert response.status_code == 200
    check_schema(spec, "/rest/api/3/myself", "get", 200, response.json())
    assert response.json()["accountType"] == "app"
    assert response.json()["accountId"] == installed.app_account_id


def test_get_issue(installed, spec):
    sim = installed
    sim.add_user("user-1", "Uma User", email="uma@example.com")
    created = sim.add_issue("PROJ", "Checkout fails", description_text="Pay button errors", assignee="user-1",
                            due_date="2030-01-31", priority="High", labels=["web"])
    assert created["key"] == "PROJ-1" and created["id"] == "10000"
    response = call(sim, "GET", "/rest/api/3/issue/PROJ-1", params={
        "fields": "summary,description,status,assignee,duedate,priority,labels,comment", "expand": "names"})
    assert response.status_code == 200
    body = response.json()
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}", "get", 200, body)
    fields = body["fields"]
    assert set(fields) == {"summary", "description", "status", "assignee", "duedate", "priority", "labels",
                           "comment"}
    assert fields["description"]["type"] == "doc"
    assert fields["status"]["name"] == "To Do" and fields["status"]["statusCategory"]["key"] == "new"
    assert fields["assignee"]["displayName"] == "Uma User" and fields["priority"]["name"] == "High"
    assert body["names"]["duedate"] == "Due date"
    by_id = call(sim, "GET", "/rest/api/3/issue/10000", params={"fields": "*navigable,-description"})
    assert by_id.json()["key"] == "PROJ-1"
    assert "comment" not in by_id.json()["fields"] and "description" not in by_id.json()["fields"]
    missing = call(sim, "GET", "/rest/api/3/issue/PROJ-99")
    assert missing.status_code == 404
    assert missing.json() == {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                              "errors": {}}
    sim.revoke(sim.app_account_id, "BROWSE_PROJECTS", "PROJ")
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1").status_code == 404


def test_comments_crud(installed, spec, fake_app):
    sim = installed
    sim.add_issue("PROJ", "Has comments")
    sim.add_comment("PROJ-1", sim.admin_account_id, "first")
    path = "/rest/api/3/issue/PROJ-1/comment"
    added = call(sim, "POST", path, json_body={
        "body": ADF_HELLO, "properties": [{"key": "ai.reply", "value": {"v": 1}}]})
    assert added.status_code == 201
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}/comment", "post", 201, added.json())
    comment_id = added.json()["id"]
    assert added.json()["author"]["accountType"] == "app"
    page = call(sim, "GET", path, params={"orderBy": "-created", "maxResults": 10, "expand": "properties"})
    assert page.status_code == 200
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}/comment", "get", 200, page.json())
    assert page.json()["total"] == 2 and page.json()["comments"][0]["id"] == comment_id
    assert page.json()["comments"][0]["properties"] == [{"key": "ai.reply", "value": {"v": 1}}]
    assert call(sim, "GET", path, params={"orderBy": "updated"}).status_code == 400
    one = call(sim, "GET", f"{path}/{comment_id}")
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}/comment/{id}", "get", 200, one.json())
    edited_body = {**ADF_HELLO, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Edit"}]}]}
    updated = call(sim, "PUT", f"{path}/{comment_id}", json_body={"body": edited_body})
    assert updated.status_code == 200 and updated.json()["body"] == edited_body
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}/comment/{id}", "put", 200, updated.json())
    assert sim.comments("PROJ-1")[1]["text"].strip() == "Edit"
    # Invalid bodies answer 400 in Jira's shape.
    bad_adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text"}]}]}
    invalid = call(sim, "POST", path, json_body={"body": bad_adf})
    assert invalid.status_code == 400
    assert invalid.json() == {"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}}
    assert call(sim, "POST", path, json_body={"body": "wiki text"}).status_code == 400
    assert call(sim, "POST", path, data=b"{not json", json_body=None).status_code == 400
    # The app may not edit a user's comment without EDIT_ALL_COMMENTS.
    first_id = sim.comments("PROJ-1")[0]["id"]
    sim.revoke(sim.app_account_id, "EDIT_ALL_COMMENTS")
    assert call(sim, "PUT", f"{path}/{first_id}", json_body={"body": ADF_HELLO}).status_code == 400
    assert call(sim, "DELETE", f"{path}/{comment_id}").status_code == 204
    assert call(sim, "GET", f"{path}/{comment_id}").status_code == 404
    assert [c["id"] for c in sim.comments("PROJ-1")] == [first_id]


def test_transitions(installed, spec):
    sim = installed
    sim.add_issue("PROJ", "Flow")
    path = "/rest/api/3/issue/PROJ-1/transitions"
    listed = call(sim, "GET", path)
    assert listed.status_code == 200
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}/transitions", "get", 200, listed.json())
    names = {t["id"]: (t["name"], t["to"]["statusCategory"]["key"]) for t in listed.json()["transitions"]}
    assert names == {"11": ("To Do", "new"), "21": ("In Progress", "indeterminate"), "31": ("Done", "done")}
    done = call(sim, "POST", path, json_body={"transition": {"id": "31"}})
    assert done.status_code == 204 and done.content == b""
    issue = sim.issue("PROJ-1")["fields"]
    assert issue["status"]["name"] == "Done" and issue["resolution"]["name"] == "Done"
    invalid = call(sim, "POST", path, json_body={"transition": {"id": "99"}})
    assert invalid.status_code == 400
    assert invalid.json()["errorMessages"] == ["Transition id '99' is not valid for this issue."]
    assert call(sim, "POST", path, json_body={}).status_code == 400
    sim.revoke(sim.app_account_id, "TRANSITION_ISSUES", "PROJ")
    assert call(sim, "GET", path).json()["transitions"] == []
    assert call(sim, "POST", path, json_body={"transition": {"id": "11"}}).status_code == 400


def test_permissions(installed, spec):
    sim = installed
    sim.add_user("user-1", "Uma User")
    sim.add_project("OPS", "Operations")
    proj_issue = sim.add_issue("PROJ", "A")
    ops_issue = sim.add_issue("OPS", "B")
    sim.revoke("user-1", "TRANSITION_ISSUES", "OPS")
    request_body = {"accountId": "user-1", "globalPermissions": ["ADMINISTER"], "projectPermissions": [
        {"permissions": ["TRANSITION_ISSUES", "ADD_COMMENTS"], "issues": [int(proj_issue["id"]), int(ops_issue["id"]),
                                                                          999999]}]}
    response = call(sim, "POST", "/rest/api/3/permissions/check", json_body=request_body)
    assert response.status_code == 200
    check_schema(spec, "/rest/api/3/permissions/check", "post", 200, response.json())
    grants = {g["permission"]: g["issues"] for g in response.json()["projectPermissions"]}
    assert response.json()["globalPermissions"] == []
    assert grants == {"TRANSITION_ISSUES": [int(proj_issue["id"])],
                      "ADD_COMMENTS": [int(proj_issue["id"]), int(ops_issue["id"])]}
    admin = call(sim, "POST", "/rest/api/3/permissions/check",
                 json_body={"accountId": sim.admin_account_id, "globalPermissions": ["ADMINISTER"]})
    assert admin.json()["globalPermissions"] == ["ADMINISTER"]
    unknown = call(sim, "POST", "/rest/api/3/permissions/check",
                   json_body={"projectPermissions": [{"permissions": ["FLY"], "issues": [1]}]})
    assert unknown.status_code == 400 and unknown.json()["errors"] == {"FLY": "Unrecognized permission"}
    mine = call(sim, "GET", "/rest/api/3/mypermissions",
                params={"permissions": "ADD_COMMENTS,TRANSITION_ISSUES,ADMINISTER", "issueKey": "OPS-1"})
    assert mine.status_code == 200
    check_schema(spec, "/rest/api/3/mypermissions", "get", 200, mine.json())
    have = {k: v["havePermission"] for k, v in mine.json()["permissions"].items()}
    assert have == {"ADD_COMMENTS": True, "TRANSITION_ISSUES": True, "ADMINISTER": False}
    assert call(sim, "GET", "/rest/api/3/mypermissions").status_code == 400
    assert call(sim, "GET", "/rest/api/3/mypermissions", params={"permissions": "NOPE"}).status_code == 400


def test_entity_properties(installed, spec):
    sim = installed
    sim.add_issue("PROJ", "Props")
    comment = sim.add_comment("PROJ-1", sim.admin_account_id, "hello")
    for base in ("/rest/api/3/issue/PROJ-1/properties", f"/rest/api/3/comment/{comment['id']}/properties"):
        assert call(sim, "PUT", f"{base}/ai.state", json_body={"handled": True}).status_code == 201
        assert call(sim, "PUT", f"{base}/ai.state", json_body={"handled": False}).status_code == 200
        got = call(sim, "GET", f"{base}/ai.state")
        assert got.json() == {"key": "ai.state", "value": {"handled": False}}
        spec_base = base.replace("PROJ-1", "{issueIdOrKey}").replace(comment["id"], "{commentId}")
        check_schema(spec, spec_base + "/{propertyKey}", "get", 200, got.json())
        keys = call(sim, "GET", base)
        check_schema(spec, spec_base, "get", 200, keys.json())
        assert [k["key"] for k in keys.json()["keys"]] == ["ai.state"]
        assert call(sim, "PUT", f"{base}/empty", data=b"", json_body=None).status_code == 400
        assert call(sim, "DELETE", f"{base}/ai.state").status_code == 204
        assert call(sim, "GET", f"{base}/ai.state").status_code == 404
    assert call(sim, "GET", "/rest/api/3/comment/999999/properties/x").status_code == 404


# ---------------------------------------------------------------------- webhooks
def test_comment_created_webhook_is_signed_and_shaped(installed, fake_app):
    sim = installed
    sim.add_user("user-1", "Uma User")
    sim.add_issue("PROJ", "Hook me")
    sim.add_comment("PROJ-1", "user-1", f"@ai summarize this [~accountid:{sim.app_account_id}]")
    assert sim.wait_idle(5)
    [hook] = fake_app.received("comment_created")
    assert "error" not in hook, hook.get("error")
    assert hook["url"].endswith("/addon/webhooks/comment?src=jira&issue=PROJ-1")  # URL variable filled in
    assert hook["claims"]["iss"] == sim.installation()["client_key"]
    headers = hook["headers"]
    assert headers["X-Atlassian-Webhook-Identifier"] and "X-Atlassian-Webhook-Retry" not in headers
    body = hook["body"]
    assert body["webhookEvent"] == "comment_created" and isinstance(body["timestamp"], int)
    assert body["comment"]["body"] == f"@ai summarize this [~accountid:{sim.app_account_id}]"
    assert body["comment"]["author"] == {**body["comment"]["author"], "accountId": "user-1",
                                         "displayName": "Uma User", "accountType": "atlassian", "active": True}
    assert body["comment"]["updateAuthor"]["accountId"] == "user-1"
    assert body["comment"]["created"] and body["comment"]["updated"] and body["comment"]["self"]
    issue = body["issue"]
    assert issue["key"] == "PROJ-1" and issue["id"] == "10000"
    assert issue["fields"]["status"]["statusCategory"]["key"] == "new"
    assert issue["fields"]["project"]["key"] == "PROJ" and issue["fields"]["issuetype"]["name"] == "Task"
    [delivery] = sim.deliveries("comment_created")
    assert delivery["state"] == "delivered" and delivery["attempts"][0]["status"] == 204
    assert delivery["identifier"] == headers["X-Atlassian-Webhook-Identifier"]


def test_app_comment_and_transition_fire_webhooks(installed, fake_app):
    sim = installed
    sim.add_issue("PROJ", "Do it")
    assert call(sim, "POST", "/rest/api/3/issue/PROJ-1/comment", json_body={"body": ADF_HELLO}).status_code == 201
    assert call(sim, "POST", "/rest/api/3/issue/PROJ-1/transitions",
                json_body={"transition": {"id": "21"}}).status_code == 204
    sim.transition_issue("PROJ-1", "Done", by=sim.admin_account_id)
    assert sim.wait_idle(5)
    [comment_hook] = fake_app.received("comment_created")
    assert comment_hook["body"]["comment"]["author"]["accountType"] == "app"
    assert comment_hook["body"]["comment"]["body"] == "Hello from the app"
    updates = fake_app.received("jira:issue_updated")
    assert len(updates) == 2 and all("error" not in u for u in updates)
    # Deliveries run in parallel, so (as with Jira) their order is not guaranteed.
    first, second = sorted((u["body"] for u in updates), key=lambda b: int(b["changelog"]["id"]))
    assert first["issue_event_type_name"] == "issue_generic" and first["user"]["accountType"] == "app"
    assert first["changelog"]["items"] == [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                                            "from": "10000", "fromString": "To Do", "to": "3",
                                            "toString": "In Progress"}]
    status_item = next(i for i in second["changelog"]["items"] if i["field"] == "status")
    assert (status_item["fromString"], status_item["toString"]) == ("In Progress", "Done")
    assert second["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"


def test_retries_on_5xx_keep_the_identifier(installed, fake_app):
    sim = installed
    sim.add_issue("PROJ", "Flaky app")
    fake_app.statuses = [500, 503, 204]
    sim.add_comment("PROJ-1", sim.admin_account_id, "retry me")
    assert sim.wait_idle(5)
    hooks = fake_app.received("comment_created")
    assert [h["answered"] for h in hooks] == [500, 503, 204]
    assert len({h["headers"]["X-Atlassian-Webhook-Identifier"] for h in hooks}) == 1
    assert [h["headers"].get("X-Atlassian-Webhook-Retry") for h in hooks] == [None, "1", "2"]
    [delivery] = sim.deliveries("comment_created")
    assert delivery["state"] == "delivered"
    assert [(a["retry"], a["status"]) for a in delivery["attempts"]] == [(0, 500), (1, 503), (2, 204)]
    assert all(a["latency_ms"] > 0 for a in delivery["attempts"])


def test_retry_limits_and_non_retryable_statuses(fake_app):
    sim = make_sim(fake_app, webhook_max_retries=2, webhook_timeout=0.3)
    try:
        assert sim.install(fake_app.base_url)["installed"]
        sim.add_issue("PROJ", "Broken app")
        fake_app.statuses = [500, 500, 500, 400]
        sim.add_comment("PROJ-1", sim.admin_account_id, "gives up")
        assert sim.wait_idle(5)
        sim.add_comment("PROJ-1", sim.admin_account_id, "bad request")
        assert sim.wait_idle(5)
        fake_app.delays = [1.0]  # the first attempt times out, the retry succeeds
        sim.add_comment("PROJ-1", sim.admin_account_id, "slow")
        assert sim.wait_idle(5)
        gave_up, bad, slow = sim.deliveries("comment_created")
        assert gave_up["state"] == "failed" and [a["status"] for a in gave_up["attempts"]] == [500, 500, 500]
        assert bad["state"] == "failed" and [a["status"] for a in bad["attempts"]] == [400]
        assert slow["state"] == "delivered"
        assert [(a["status"], a["error"]) for a in slow["attempts"]] == [(None, "timeout"), (204, None)]
    finally:
        sim.stop()


def test_pause_resume_and_redeliver(installed, fake_app):
    sim = installed
    sim.add_issue("PROJ", "Replay")
    sim.pause_delivery()
    sim.add_comment("PROJ-1", sim.admin_account_id, "held")
    assert not sim.wait_idle(0.2)
    assert fake_app.received() == []
    sim.resume_delivery()
    assert sim.wait_idle(5)
    [first] = fake_app.received("comment_created")
    identifier = first["headers"]["X-Atlassian-Webhook-Identifier"]
    sim.redeliver(identifier)
    assert sim.wait_idle(5)
    hooks = fake_app.received("comment_created")
    assert len(hooks) == 2 and hooks[1]["headers"]["X-Atlassian-Webhook-Identifier"] == identifier
    assert hooks[1]["body"] == hooks[0]["body"]
    assert sim.deliveries(identifier=identifier)[0]["replays"] == 1


# ---------------------------------------------------------------------- faults, call log, helpers
def test_faults_and_call_log(installed):
    sim = installed
    sim.add_issue("PROJ", "Faulty")
    sim.faults.add(r"/comment$", 429, retry_after=2)
    sim.faults.add(r"/issue/PROJ-1$", 503, count=2)
    limited = call(sim, "POST", "/rest/api/3/issue/PROJ-1/comment", json_body={"body": ADF_HELLO})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert call(sim, "POST", "/rest/api/3/issue/PROJ-1/comment", json_body={"body": ADF_HELLO}).status_code == 201
    assert [call(sim, "GET", "/rest/api/3/issue/PROJ-1").status_code for _ in range(3)] == [503, 503, 200]
    sim.faults.add(r"/myself$", None, delay=0.2)
    started = time.monotonic()
    assert call(sim, "GET", "/rest/api/3/myself").status_code == 200
    assert time.monotonic() - started >= 0.2
    posts = sim.calls("/comment", method="POST")
    assert [c["status"] for c in posts] == [429, 201]
    assert posts[1]["body"] == {"body": ADF_HELLO} and posts[1]["account_id"] == sim.app_account_id
    assert sim.faults.pending() == 0


def test_helpers(installed, fake_app):
    sim = installed
    issue = sim.add_issue("PROJ", "Helpers", status="In Progress", labels=["a"])
    assert issue["fields"]["status"]["name"] == "In Progress"
    sim.add_comment("PROJ-1", sim.admin_account_id, "hello\n\nworld")

    def reply_later() -> None:
        time.sleep(0.1)
        call(sim, "POST", "/rest/api/3/issue/PROJ-1/comment", json_body={"body": ADF_HELLO})

    threading.Thread(target=reply_later).start()
    reply = sim.wait_for_comment("PROJ-1", lambda c: c["author_type"] == "app", timeout=5)
    assert reply["text"].strip() == "Hello from the app"
    with pytest.raises(TimeoutError):
        sim.wait_for_comment("PROJ-1", lambda c: "never" in c["text"], timeout=0.1)
    updated = sim.update_issue("PROJ-1", summary="Renamed", labels=["a", "b"])
    assert updated["fields"]["summary"] == "Renamed"
    sim.delete_issue("PROJ-1")
    assert sim.wait_idle(5)
    assert call(sim, "GET", "/rest/api/3/issue/PROJ-1").status_code == 404
    edit = fake_app.received("jira:issue_updated")[-1]["body"]
    assert {i["field"] for i in edit["changelog"]["items"]} == {"summary", "labels"}


def test_runs_as_a_module():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "connect_app.devtools.jira_sim", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/status", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, proc.stderr.read1().decode() if proc.poll() is not None else ""
            time.sleep(0.1)
        assert requests.get(f"http://127.0.0.1:{port}/rest/api/3/myself", timeout=2).status_code == 401
    finally:
        proc.terminate()
        proc.wait(5)


def test_edit_issue(installed, fake_app, spec):
    sim = installed
    sim.add_issue("PROJ", "Old title", labels=["x"])
    path = "/rest/api/3/issue/PROJ-1"
    assert call(sim, "PUT", path, json_body={"fields": {"summary": "New title"},
                                             "update": {"labels": [{"set": ["y"]}]}}).status_code == 204
    returned = call(sim, "PUT", path, params={"returnIssue": "true"}, json_body={"fields": {"priority": {"name": "Low"}}})
    assert returned.status_code == 200 and returned.json()["fields"]["priority"]["name"] == "Low"
    check_schema(spec, "/rest/api/3/issue/{issueIdOrKey}", "get", 200, returned.json())
    bad = call(sim, "PUT", path, json_body={"fields": {"customfield_1": "x"}})
    assert bad.status_code == 400 and "customfield_1" in bad.json()["errors"]
    not_json = requests.put(sim.base_url + path, data="summary=x", timeout=5,
                            headers={"Authorization": "JWT " + encode_hs256(
                                {"iss": APP_KEY, "iat": int(time.time()), "exp": int(time.time()) + 60,
                                 "qsh": query_string_hash("PUT", path)}, sim.installation()["shared_secret"]),
                                "Content-Type": "text/plain"})
    assert not_json.status_code == 415
    assert sim.wait_idle(5)
    changes = [{i["field"]: (i["fromString"], i["toString"]) for i in h["body"]["changelog"]["items"]}
               for h in fake_app.received("jira:issue_updated")]
    assert {"summary": ("Old title", "New title"), "labels": ("x", "y")} in changes
    assert {"priority": ("Medium", "Low")} in changes
