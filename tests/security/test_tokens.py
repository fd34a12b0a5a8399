"""Hostile tokens at both doors, through the real Flask app: each attack's status, logged reason and effect.

The token code's own unit tests (``tests/platform/connect/test_jwt.py``, ``tests/platform/forge/test_fit.py``)
try every rejection on the pure functions; these try them where an attacker meets them, and check that a
refused request leaves nothing behind: no job, no claimed delivery, no changed site, no secret in a log.
"""

from __future__ import annotations

import logging
import time

import jwt as pyjwt
import pytest

from connect_app.models import Tenant
from connect_app.platform.connect.jwt import query_string_hash
from tests.conftest import APP_URL, install_token
from tests.platform.forge.fitkit import (
    INSTALLATION_ID,
    fit,
    fit_claims,
    sign,
)
from tests.security.kit import (
    ACME,
    DANA,
    DISABLED,
    ENABLED,
    FORGE_COMMENT,
    GLOBEX,
    INSTALLED,
    NEWCO,
    UNINSTALLED,
    WEBHOOK,
    assert_safe_reply,
    comment_payload,
    forge_comment,
    hmac_token,
    hs_token,
    install,
    installed_body,
    post_json,
    queued_events,
    unsigned_token,
)


def now() -> int:
    """The time when a token is made (not when the module was collected: a long run outlives 600 s)."""
    return int(time.time())


def good_claims() -> dict:
    return {"iss": ACME.client_key, "iat": now(), "exp": now() + 600,
            "qsh": query_string_hash("POST", WEBHOOK, APP_URL)}


def refused(res, caplog, reason: str, *secrets: str) -> None:
    """401 with the generic body; the reason is logged; no token or secret is."""
    assert res.status_code == 401, res.get_data(as_text=True)
    assert res.get_json() == {"error": "auth_failed", "message": "Authentication failed."}
    assert reason in caplog.text, caplog.text
    for secret in (ACME.secret, GLOBEX.secret, *secrets):
        assert secret not in caplog.text


# ---------------------------------------------------------------------- Connect webhooks
WEBHOOK_ATTACKS = {
    "alg-none": (lambda keys: unsigned_token({"alg": "none", "typ": "JWT"}, good_claims()),
                 "JWT algorithm 'none' is not allowed here; expected HS256"),
    "rs256-where-hs256-is-expected": (
        lambda keys: pyjwt.encode(good_claims(), keys.private_pem, algorithm="RS256", headers={"kid": keys.kid}),
        "JWT algorithm 'RS256' is not allowed here; expected HS256"),
    "hs256-keyed-with-the-install-public-key": (
        lambda keys: hmac_token({"alg": "HS256", "typ": "JWT"}, good_claims(), keys.public_pem.encode()),
        "JWT signature does not verify with the shared secret of issuer 'ck-acme-0001'"),
    "expired": (lambda keys: hs_token(WEBHOOK, exp_in=-600), "JWT expired"),
    "issued-in-the-future": (lambda keys: hs_token(WEBHOOK, iat=now() + 3600), "JWT was issued in the future"),
    "not-yet-valid": (lambda keys: hs_token(WEBHOOK, nbf=now() + 3600), "JWT is not valid yet"),
    "qsh-of-another-route": (
        lambda keys: hs_token(WEBHOOK, qsh=query_string_hash("POST", "/connect/webhooks/issue-updated", APP_URL)),
        "JWT qsh does not match the request POST '/connect/webhooks/comment-created'"),
    "qsh-of-another-method": (lambda keys: hs_token(WEBHOOK, method="GET"), "JWT qsh does not match"),
    "context-qsh-on-a-webhook": (lambda keys: hs_token(WEBHOOK, qsh="context-qsh"),
                                 "JWT qsh is 'context-qsh', which is not accepted for this request"),
    "unknown-iss": (lambda keys: hs_token(WEBHOOK, iss="ck-nobody"),
                    "unknown issuer 'ck-nobody': no installed site has this clientKey"),
    "another-sites-secret": (lambda keys: hs_token(WEBHOOK, ACME, secret=GLOBEX.secret),
                             "JWT signature does not verify with the shared secret of issuer 'ck-acme-0001'"),
    "no-iss": (lambda keys: hs_token(WEBHOOK, iss="", qsh=None), "JWT has no iss claim"),
    "too-long": (lambda keys: hs_token(WEBHOOK, padding="x" * 20_000), "the JWT is longer than 16384 characters"),
    "garbage": (lambda keys: "not-a-jwt", "malformed JWT"),
}


@pytest.mark.parametrize("attack", list(WEBHOOK_ATTACKS))
def test_a_webhook_with_a_hostile_token_is_refused_and_loses_nothing(client, sites, install_key, caplog, attack):
    caplog.set_level(logging.INFO)
    make, reason = WEBHOOK_ATTACKS[attack]
    token = make(install_key)
    res = post_json(client, WEBHOOK, comment_payload(), token)
    refused(res, caplog, reason)
    assert token not in caplog.text
    assert queued_events(sites) == []
    # The refusal claimed nothing: the genuine delivery of the same comment is still accepted, once.
    assert post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK)).status_code == 204
    assert len(queued_events(sites)) == 1


def test_a_token_in_both_the_header_and_the_query_is_refused(client, sites, caplog):
    caplog.set_level(logging.INFO)
    path = WEBHOOK + "?user_id=x"
    token = hs_token(path, qsh=query_string_hash("POST", path, APP_URL))
    res = post_json(client, f"{path}&jwt={token}", comment_payload(), token)
    refused(res, caplog, "a JWT is given both in the Authorization header and in the jwt query parameter")
    assert queued_events(sites) == []


def test_two_authorization_headers_or_two_query_tokens_are_refused(client, sites, caplog):
    caplog.set_level(logging.INFO)
    token = hs_token(WEBHOOK)
    res = post_json(client, WEBHOOK, comment_payload(), headers=[("Authorization", f"JWT {token}"),
                                                                  ("Authorization", f"JWT {token}")])
    # WSGI servers join repeated headers with ", ": the token then holds a comma.
    refused(res, caplog, "the JWT contains spaces or commas (was the header sent more than once?)")
    res = client.post(f"{WEBHOOK}?jwt={token}&jwt={token}", json=comment_payload())
    refused(res, caplog, "the jwt query parameter is given more than once")
    assert queued_events(sites) == []


def test_a_forge_sites_id_is_not_a_connect_issuer(client, sites, caplog):
    caplog.set_level(logging.INFO)
    sites.stores.tenants.save(Tenant(tenant_id="forge-install-1", door="forge", base_url="https://x.atlassian.net",
                                     api_base_url="https://api.atlassian.com/ex/jira/c1"))
    res = post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK, iss="forge-install-1", secret="anything-at-all-0123456789-0123456789"))
    refused(res, caplog, "unknown issuer 'forge-install-1'")


def test_a_replayed_delivery_makes_one_job(client, sites):
    """The same signed request sent again (a replay, or Jira's retry) is acknowledged and ignored."""
    token = hs_token(WEBHOOK)
    for _ in range(3):
        res = post_json(client, WEBHOOK, comment_payload(), token, headers={"X-Atlassian-Webhook-Identifier": "wh-7"})
        assert res.status_code == 204
    assert len(queued_events(sites)) == 1


def test_a_replayed_token_cannot_be_used_on_another_route(client, sites, caplog):
    caplog.set_level(logging.INFO)
    token = hs_token(WEBHOOK)
    assert post_json(client, WEBHOOK, comment_payload(), token).status_code == 204
    refused(post_json(client, "/connect/webhooks/issue-updated", {"issue": {"key": "SUP-1"}}, token), caplog,
            "JWT qsh does not match the request POST '/connect/webhooks/issue-updated'")
    refused(post_json(client, DISABLED, installed_body(), token), caplog, "JWT qsh does not match")
    assert sites.stores.tenants.get(ACME.client_key).enabled is True


# ---------------------------------------------------------------------- Connect lifecycle
@pytest.mark.parametrize("path", [ENABLED, DISABLED])
def test_context_qsh_on_a_lifecycle_route_is_refused(client, sites, caplog, path):
    caplog.set_level(logging.INFO)
    sites.stores.tenants.set_enabled(ACME.client_key, path == DISABLED)  # the call would flip it
    before = sites.stores.tenants.raw(ACME.client_key)
    res = post_json(client, path, installed_body(), hs_token(path, qsh="context-qsh"))
    refused(res, caplog, "JWT qsh is 'context-qsh', which is not accepted for this request")
    assert sites.stores.tenants.raw(ACME.client_key) == before


def test_enabled_for_another_site_in_the_body_is_refused(client, sites, caplog):
    caplog.set_level(logging.INFO)
    res = post_json(client, DISABLED, installed_body(GLOBEX), hs_token(DISABLED))
    refused(res, caplog, "clientKey in the body does not match the token's issuer")
    assert sites.stores.tenants.get(GLOBEX.client_key).enabled is True
    assert sites.stores.tenants.get(ACME.client_key).enabled is True


@pytest.mark.parametrize(("make", "reason"), [
    pytest.param(lambda k: install_token(k, client_key=NEWCO.client_key, qsh="context-qsh"),
                 "JWT qsh is 'context-qsh'", id="context-qsh-on-install"),
    pytest.param(lambda k: hmac_token({"alg": "HS256", "kid": k.kid}, {
        "iss": NEWCO.client_key, "aud": APP_URL, "iat": now(), "exp": now() + 600,
        "qsh": query_string_hash("POST", INSTALLED, APP_URL)}, k.public_pem.encode()),
                 "JWT algorithm 'HS256' is not allowed here; expected RS256", id="hs256-keyed-with-the-public-key"),
    pytest.param(lambda k: unsigned_token({"alg": "none", "kid": k.kid}, {
        "iss": NEWCO.client_key, "aud": APP_URL, "iat": now(), "exp": now() + 600,
        "qsh": query_string_hash("POST", INSTALLED, APP_URL)}),
                 "JWT algorithm 'none' is not allowed here; expected RS256", id="alg-none"),
    pytest.param(lambda k: hs_token(INSTALLED, NEWCO), "JWT algorithm 'HS256' is not allowed here; expected RS256",
                 id="shared-secret-hs256"),
    pytest.param(lambda k: install_token(k, client_key=NEWCO.client_key, ttl=-600), "JWT expired", id="expired"),
    pytest.param(lambda k: pyjwt.encode({"iss": NEWCO.client_key, "aud": APP_URL, "iat": now() + 3600, "exp": now() + 7200,
                                         "qsh": query_string_hash("POST", INSTALLED, APP_URL)}, k.private_pem,
                                        algorithm="RS256", headers={"kid": k.kid}),
                 "JWT was issued in the future", id="not-yet-valid"),
])
def test_install_tokens_that_are_refused(client, svc, install_key, keys, caplog, make, reason):
    caplog.set_level(logging.INFO)
    res = post_json(client, INSTALLED, installed_body(NEWCO), make(install_key))
    refused(res, caplog, reason)
    assert svc.stores.tenants.get(NEWCO.client_key) is None


CRAFTED_KIDS = ["../install-key-1", "../../connect/install-key-1", "http://evil.example/install-key-1",
                "%2e%2e%2finstall-key-1", "install-key-1/../../x", "install-key-1?x=1", "install-key-1#x",
                "k" * 129, "k" * 5000, "install-key-1\r\nHost: evil.example", " install-key-1", "-install-key-1"]


@pytest.mark.parametrize("kid", CRAFTED_KIDS, ids=lambda k: repr(k)[:40])
def test_a_crafted_kid_never_reaches_any_url(client, svc, install_key, keys, caplog, kid):
    caplog.set_level(logging.INFO)
    res = install(client, install_key, NEWCO, kid=kid)
    refused(res, caplog, "is not a valid key id")
    assert len(keys.calls) == 0  # not even the key CDN was asked
    assert svc.stores.tenants.get(NEWCO.client_key) is None


def test_an_unknown_kid_is_asked_of_the_key_cdn_only(client, svc, rogue_key, keys, caplog):
    caplog.set_level(logging.INFO)
    refused(install(client, rogue_key, NEWCO), caplog, "does not exist on the key server (404)")
    assert [c.request.url for c in keys.calls] == [f"https://keys.test/connect/{rogue_key.kid}"]


FORGERIES = {
    "signed-by-a-rogue-key": lambda c, k, r: install(c, r, body=installed_body(ACME, sharedSecret="attacker-secret-0000000000000000")),
    "unsigned": lambda c, k, r: post_json(c, INSTALLED, installed_body(ACME, sharedSecret="attacker-secret-0000000000000000")),
    "hs256-with-the-old-secret": lambda c, k, r: post_json(
        c, INSTALLED, installed_body(ACME, sharedSecret="attacker-secret-0000000000000000"), hs_token(INSTALLED, ACME)),
    "real-key-but-iss-of-another-site": lambda c, k, r: install(
        c, k, body=installed_body(ACME, sharedSecret="attacker-secret-0000000000000000"), client_key=GLOBEX.client_key),
    "real-key-but-another-apps-aud": lambda c, k, r: install(
        c, k, body=installed_body(ACME, sharedSecret="attacker-secret-0000000000000000"), aud="https://evil.example"),
    "real-key-but-qsh-of-uninstalled": lambda c, k, r: install(
        c, k, body=installed_body(ACME, sharedSecret="attacker-secret-0000000000000000"), path=UNINSTALLED),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_installed_for_an_existing_site_changes_nothing(client, sites, install_key, rogue_key, caplog,
                                                                 forgery):
    caplog.set_level(logging.INFO)
    before = sites.stores.tenants.raw(ACME.client_key)
    res = FORGERIES[forgery](client, install_key, rogue_key)
    assert res.status_code == 401
    assert sites.stores.tenants.raw(ACME.client_key) == before
    assert sites.stores.tenants.get(ACME.client_key).shared_secret == ACME.secret
    assert "attacker-secret-0000000000000000" not in caplog.text
    # The site's genuine calls still verify with its own secret.
    assert post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK)).status_code == 204


def test_a_signed_reinstall_to_a_host_that_is_not_allowed_changes_nothing(client, sites, install_key):
    before = sites.stores.tenants.raw(ACME.client_key)
    res = install(client, install_key, body=installed_body(ACME, baseUrl="https://acme.evil.example",
                                                           sharedSecret="attacker-secret-0000000000000000"))
    assert res.status_code == 403
    assert sites.stores.tenants.raw(ACME.client_key) == before


@pytest.mark.parametrize("base_url", [
    "http://acme.atlassian.net", "https://acme.atlassian.net.evil.example", "https://acme.atlassian.net@evil.example",
    "https://evil.example\\.atlassian.net", "https://evil.example%2f.atlassian.net", "https://evil.example%5c.atlassian.net",
    "https://evil.example/.atlassian.net", "https://evil.example?.atlassian.net", "https://evil.example#.atlassian.net",
    "https://127.0.0.1", "https://localhost", "https://acme.atlassian.net:99999", "https://user:pw@acme.atlassian.net",
    "javascript://acme.atlassian.net", "https://acme.atlassian.net/" + "a" * 300,
])
def test_an_install_whose_base_url_is_not_allowed_is_forbidden(client, svc, install_key, keys, caplog, base_url):
    caplog.set_level(logging.INFO)
    res = install(client, install_key, body=installed_body(NEWCO, baseUrl=base_url))
    assert res.status_code == 403
    assert res.get_json()["error"] == "forbidden"
    assert "install refused: baseUrl host not allowed" in caplog.text
    assert svc.stores.tenants.get(NEWCO.client_key) is None


def test_an_uninstall_needs_the_install_signature(client, sites, caplog):
    caplog.set_level(logging.INFO)
    refused(post_json(client, UNINSTALLED, installed_body(ACME), hs_token(UNINSTALLED)), caplog,
            "JWT algorithm 'HS256' is not allowed here; expected RS256")
    assert sites.stores.tenants.get(ACME.client_key) is not None


# ---------------------------------------------------------------------- a replayed token with a forged body
def test_a_forged_body_under_a_replayed_token_cannot_make_the_app_act(sim_env):
    """A Connect token covers the method, path and query, not the body: whoever holds a captured token
    for a few minutes can post any body. The door accepts it; the action stage reads the request back
    from Jira and acts only on what Jira says the requester wrote."""
    sim = sim_env.sim
    issue = sim.add_issue("SUP", "Replay target", status="In Progress")["key"]
    forged = [
        {"text": "mark this done"},  # Dana asked for a summary, the forged body asks to close the issue
        {"text": "mark this done", "author_account_id": sim.admin_account_id, "author_name": "Sim Admin"},
    ]
    sim.clear_calls()
    for change in forged:
        event = sim_env.ask(issue, "@ai summarize this")
        for name, value in change.items():
            setattr(event, name, value)
        outcome = sim_env.pipeline().process(event)
        assert outcome.intent == "task_completion"
        assert outcome.draft.data["action_result"] == "request_unconfirmed"
    # a comment Jira never had: neither answered nor acted on
    ghost = sim_env.ask(issue, "@ai summarize this")
    ghost.text, ghost.comment_id = "mark this done", "999999"
    outcome = sim_env.pipeline().process(ghost)
    assert (outcome.status, outcome.reason) == ("skipped", "request_deleted")
    assert sim.calls("/transitions", method="POST") == []
    assert sim.issue(issue)["fields"]["status"]["name"] == "In Progress"
    replies = sim_env.replies(issue)
    assert len(replies) == 2
    for reply in replies:
        assert "couldn't confirm this request with Jira" in reply["text"]
        assert_safe_reply(reply["body"])


def test_the_genuine_request_still_acts(sim_env):
    sim = sim_env.sim
    issue = sim.add_issue("SUP", "Genuine close", status="In Progress")["key"]
    outcome = sim_env.pipeline().process(sim_env.ask(issue, "@ai mark this done, the fix is deployed", author=DANA))
    assert outcome.transitioned_to == "Done"
    assert sim.issue(issue)["fields"]["status"]["statusCategory"]["key"] == "done"


# ---------------------------------------------------------------------- Forge


@pytest.mark.parametrize("kid", ["../security-forge-key", "http://evil.example/jwks.json", "%2e%2e%2fkey",
                                 "k" * 300, "security-forge-key/../../x", ""], ids=lambda k: repr(k)[:30])
def test_a_crafted_forge_kid_reaches_no_url_but_the_jwks(forge, forge_key, jwks, caplog, kid):
    client, svc = forge
    caplog.set_level(logging.INFO)
    svc.forge_keys(forge_key.kid)  # the key set is cached, as in a running process
    before = jwks.hits
    token = sign(fit_claims("comment-trigger"), forge_key, kid=kid)
    res = client.post(FORGE_COMMENT, json=forge_comment(), headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 401
    assert "Forge invocation token kid" in caplog.text or "no Forge signing key has kid" in caplog.text
    assert jwks.hits - before <= 1  # at most one refetch of the configured key set, never another URL
    assert svc.stores.tenants.get(INSTALLATION_ID) is None and queued_events(svc) == []


def test_forge_refuses_two_authorization_headers_and_a_query_token(forge, forge_key, caplog):
    client, svc = forge
    caplog.set_level(logging.INFO)
    token = fit("comment-trigger", forge_key)
    res = client.post(FORGE_COMMENT, json=forge_comment(),
                      headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")])
    assert res.status_code == 401 and "the Forge invocation token contains spaces or commas" in caplog.text
    res = client.post(f"{FORGE_COMMENT}?jwt={token}", json=forge_comment())
    assert res.status_code == 401 and "no Forge invocation token" in caplog.text
    assert queued_events(svc) == []


def test_a_fit_is_not_a_connect_token_and_a_connect_token_is_not_a_fit(forge, forge_key, caplog):
    client, svc = forge
    caplog.set_level(logging.INFO)
    res = client.post(WEBHOOK, json=comment_payload(), headers={"Authorization": f"JWT {fit('comment-trigger', forge_key)}"})
    assert res.status_code == 401 and "JWT algorithm 'RS256' is not allowed here; expected HS256" in caplog.text
    res = client.post(FORGE_COMMENT, json=forge_comment(), headers={"Authorization": f"Bearer {hs_token(FORGE_COMMENT)}"})
    assert res.status_code == 401 and "algorithm 'HS256' is not allowed; expected RS256" in caplog.text
    assert queued_events(svc) == []


def test_a_forge_installation_cannot_take_over_a_connect_site(forge, forge_key):
    client, svc = forge
    svc.stores.tenants.save(Tenant(tenant_id=ACME.client_key, door="connect", base_url=ACME.base_url,
                                   shared_secret=ACME.secret))
    before = svc.stores.tenants.raw(ACME.client_key)
    token = fit("comment-trigger", forge_key, installation=ACME.client_key)
    res = client.post(FORGE_COMMENT, json=forge_comment(), headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 403
    assert res.get_json()["error"] == "forbidden"
    assert svc.stores.tenants.raw(ACME.client_key) == before
    assert queued_events(svc) == []
