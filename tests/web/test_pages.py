"""The screens' pages as Jira loads them (``?jwt=`` hashed for the page URL), the static files, the modules."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
import responses

from connect_app.app import create_app
from connect_app.models import Tenant
from connect_app.platform.connect.descriptor import render_descriptor
from connect_app.platform.connect.jwt import CONTEXT_QSH, encode_hs256, query_string_hash
from connect_app.settings import Settings
from tests.conftest import APP_URL, SITE_URL

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "specs" / "connect" / "jira-global-schema.json"
CLIENT_KEY = "ck-acme-0001"
SECRET = "shared-secret-value-for-acme-0123456789"
DANA = "5b10ac8d82e05b22cc7d4ef5"
PANEL = "/connect/pages/email-panel"
ADMIN_PAGE = "/connect/pages/admin"
JIRA_QUERY = "xdm_e=https%3A%2F%2Facme.atlassian.net&xdm_c=channel-1&cp=&xdm_deprecated_addon_key_do_not_use=x&lic=none&cv=1001.0.0"


def page_token(path, *, qsh=None, exp_in=120, sub=DANA, context=None):
    now = int(time.time())
    claims = {"iss": CLIENT_KEY, "sub": sub, "iat": now, "exp": now + exp_in,
              "qsh": qsh or query_string_hash("GET", f"{path}?{JIRA_QUERY}", APP_URL)}
    if context is not None:
        claims["context"] = context
    return encode_hs256(claims, SECRET)


def load(client, path, token):
    return client.get(f"{path}?{JIRA_QUERY}&jwt={token}")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "SECRET_KEY": "test-secret-key-0123456789",
    }, env_file=None)
    app = create_app(settings)
    app.extensions["jira_ai"].stores.tenants.save(
        Tenant(tenant_id=CLIENT_KEY, door="connect", base_url=SITE_URL, shared_secret=SECRET))
    yield app
    app.extensions["jira_ai"].close()


@pytest.fixture(autouse=True)
def fresh(app):
    """One app for the module; the administrator check's cached answers are forgotten between tests."""
    cache = app.extensions["jira_ai"].stores.cache
    for key, _ in list(cache.scan("ui-admin:")):
        cache.delete(key)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def jira():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def admin_is(jira, granted):
    jira.post(f"{SITE_URL}/rest/api/3/permissions/check",
              json={"globalPermissions": ["ADMINISTER"] if granted else [], "projectPermissions": []})


# ---------------------------------------------------------------------- email panel
def test_the_panel_page_loads_with_a_page_token(client):
    context = {"jira": {"issue": {"key": "SUP-1", "id": "10001"}}}
    res = load(client, PANEL, page_token(PANEL, context=context))
    assert res.status_code == 200 and res.mimetype == "text/html"
    html = res.get_data(as_text=True)
    assert '<script src="https://connect-cdn.atl-paas.net/all.js"></script>' in html
    assert "/static/js/transport-connect.js" in html and "/static/css/atlaskit-lite.css" in html
    assert "SUP-1" in html  # the key from the signed token, before the API answers
    assert SECRET not in html and "jwt" not in html.lower()
    assert res.headers["Referrer-Policy"] == "no-referrer"
    assert res.headers["Cache-Control"] == "no-store"
    csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self' https://connect-cdn.atl-paas.net;" in csp and "object-src 'none'" in csp


@pytest.mark.parametrize(("token_fn", "why"), [
    (lambda: page_token(PANEL, qsh=CONTEXT_QSH), "context token on a page load"),
    (lambda: page_token(PANEL, exp_in=-600), "expired"),
    (lambda: page_token(ADMIN_PAGE), "signed for another page"),
    (lambda: page_token(PANEL, sub=None), "no user"),
])
def test_refused_page_loads_get_a_plain_401_page(client, token_fn, why):
    res = load(client, PANEL, token_fn())
    assert res.status_code == 401, why
    html = res.get_data(as_text=True)
    assert "This page could not be opened" in html and "Reload the page in Jira" in html
    assert res.mimetype == "text/html" and res.headers["Cache-Control"] == "no-store"


def test_a_page_without_a_token_is_401(client):
    assert client.get(PANEL).status_code == 401


# ---------------------------------------------------------------------- admin page
def test_the_admin_page_refuses_a_non_admin_at_load(client, jira):
    admin_is(jira, False)
    res = load(client, ADMIN_PAGE, page_token(ADMIN_PAGE))
    assert res.status_code == 403
    html = res.get_data(as_text=True)
    assert "Only Jira administrators can open this page" in html
    assert "admin.js" not in html


def test_the_admin_page_loads_for_an_admin(client, jira):
    admin_is(jira, True)
    res = load(client, ADMIN_PAGE, page_token(ADMIN_PAGE))
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "/static/js/admin.js" in html and "connect-cdn.atl-paas.net/all.js" in html
    assert json.loads(jira.calls[0].request.body)["accountId"] == DANA


def test_the_admin_page_when_jira_cannot_say(client, jira):
    jira.post(f"{SITE_URL}/rest/api/3/permissions/check", status=503)
    res = load(client, ADMIN_PAGE, page_token(ADMIN_PAGE))
    assert res.status_code == 502
    assert "could not confirm" in res.get_data(as_text=True)


# ---------------------------------------------------------------------- static files
@pytest.mark.parametrize("path", ["/static/js/transport-connect.js", "/static/css/atlaskit-lite.css"])
def test_static_files_are_served(client, path):
    res = client.get(path)
    assert res.status_code == 200 and res.data


# ---------------------------------------------------------------------- descriptor modules
def test_the_descriptor_declares_both_screens(settings):
    modules = render_descriptor(settings)["modules"]
    glance, = modules["jiraIssueGlances"]
    context, = modules["jiraIssueContexts"]
    assert glance["target"] == context["target"] == {"type": "web_panel", "url": PANEL}
    assert glance["key"] != context["key"]
    assert modules["configurePage"]["url"] == ADMIN_PAGE
    assert [p["url"] for p in modules["adminPages"]] == [ADMIN_PAGE]
    for page in (modules["configurePage"], *modules["adminPages"]):
        assert page["conditions"] == [{"condition": "user_is_admin"}]
    for module in (glance, context):
        assert (ROOT / module["icon"]["url"].lstrip("/")).is_file()


def test_the_issue_context_module_has_the_glance_shape():
    # The 2019 schema predates jiraIssueContexts (it accepts unknown modules); Atlassian documents the same
    # fields as for a glance, so each entry is checked against the glance definition.
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator({"definitions": schema["definitions"], "$ref": "#/definitions/issueGlance"})
    committed = json.loads((ROOT / "atlassian-connect.json").read_text())
    for module in committed["modules"]["jiraIssueContexts"] + committed["modules"]["jiraIssueGlances"]:
        assert not list(validator.iter_errors(module))
