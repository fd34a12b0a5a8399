"""Forge Invocation Token verification, the JWKS key client and the system token's expiry."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from connect_app.errors import AuthError, ConfigError, KeyServiceUnavailableError
from connect_app.platform.forge.fit import (
    ForgeInvocation,
    api_host_allowed,
    app_ari,
    bearer_token,
    token_expiry,
    verify_fit,
)
from connect_app.platform.forge.keys import ForgeKeys
from tests.conftest import make_keypair
from tests.platform.forge.fitkit import (
    API_BASE,
    APP_ID,
    CLOUD_ID,
    INSTALLATION_ID,
    USER,
    JwksServer,
    fit,
    fit_claims,
    sign,
    system_token,
)

MODULE = "comment-trigger"
HOSTS = ("api.atlassian.com", "127.0.0.1")


@pytest.fixture(scope="module")
def key():
    return make_keypair("forge-key-1")


@pytest.fixture(scope="module")
def other_key():
    return make_keypair("forge-key-2")


def key_lookup(*pairs):
    keys = {p.kid: load_pem_public_key(p.public_pem.encode()) for p in pairs}

    def get_key(kid):
        if kid not in keys:
            raise AuthError(f"no key {kid}")
        return keys[kid]

    return get_key


def verify(token, key, *, modules=(MODULE,), app_id=APP_ID, hosts=HOSTS, **kw):
    return verify_fit(token, get_key=key_lookup(key), app_id=app_id, modules=modules, allowed_api_hosts=hosts,
                      **kw)


def unsigned(claims, header):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(claims)}."


# ---------------------------------------------------------------------- a good token
def test_a_valid_fit_gives_the_invocation(key):
    token = fit("ai-email-panel", key, principal=USER, context={
        "cloudId": CLOUD_ID, "moduleKey": "ai-email-panel", "siteUrl": "https://acme.atlassian.net",
        "extension": {"type": "jira:issueContext", "issue": {"key": "SUP-7", "id": "10007", "type": "Bug"}},
    })
    inv = verify(token, key, modules=("ai-email-panel", "ai-admin-page"))
    assert isinstance(inv, ForgeInvocation)
    assert inv.installation_id == INSTALLATION_ID and inv.api_base_url == API_BASE
    assert inv.module_key == "ai-email-panel" and inv.module_type == "core:endpoint"
    assert inv.app_id == APP_ID and inv.environment_type == "DEVELOPMENT"
    assert inv.principal == USER and inv.cloud_id == CLOUD_ID
    assert inv.site_url == "https://acme.atlassian.net"
    assert inv.issue_key == "SUP-7" and inv.issue_id == "10007"


def test_event_tokens_need_no_principal_and_cloud_id_falls_back_to_the_api_base(key):
    inv = verify(fit(MODULE, key, context={}), key)
    assert inv.principal is None and inv.issue_key is None and inv.issue == {}
    assert inv.cloud_id == CLOUD_ID and inv.site_url is None


def test_a_bare_app_uuid_is_the_same_app_as_its_ari(key):
    verify(fit(MODULE, key), key, app_id=APP_ID.rsplit("/", 1)[1])
    assert app_ari("abc") == "ari:cloud:ecosystem::app/abc" and app_ari(APP_ID) == APP_ID


def test_audience_may_be_a_list(key):
    verify(sign(fit_claims(MODULE, aud=["other", APP_ID]), key), key)


def test_issue_key_in_context_must_look_like_one(key):
    token = fit("ai-email-panel", key, principal=USER,
                context={"extension": {"issue": {"key": "../admin", "id": "x1"}}})
    inv = verify(token, key, modules=("ai-email-panel",))
    assert inv.issue_key is None and inv.issue_id == ""


# ---------------------------------------------------------------------- every rejection
@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"aud": "ari:cloud:ecosystem::app/someone-else"}, "aud"),
        ({"aud": None}, "aud"),
        ({"iss": "forge/other"}, "iss"),
        ({"iss": None}, "iss"),
        ({"exp": -120}, "expired"),  # times: seconds from when the test runs (see below)
        ({"nbf": 300}, "not valid yet"),
        ({"iat": 300}, "not valid yet"),
        ({"exp": "soon"}, "not a number"),
        ({"app": None}, "app claim"),
        ({"app": {"apiBaseUrl": API_BASE, "module": {"key": MODULE}}}, "installationId"),
    ],
)
def test_claims_are_checked(key, over, reason):
    now = int(time.time())  # relative times resolved now: the parameters were built at collection
    over = {k: now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v for k, v in over.items()}
    claims = fit_claims(MODULE, **over)
    claims = {k: v for k, v in claims.items() if v is not None}
    with pytest.raises(AuthError, match=reason):
        verify(sign(claims, key), key)


def test_exp_and_iat_are_required(key):
    for name in ("exp", "iat"):
        claims = fit_claims(MODULE)
        del claims[name]
        with pytest.raises(AuthError, match=f"no {name} claim"):
            verify(sign(claims, key), key)


def test_leeway_applies_to_time_claims(key):
    now = time.time()
    token = sign(fit_claims(MODULE, now=now - 100, ttl=60), key)  # expired 40 s ago
    verify(token, key, leeway=60, now=now)
    with pytest.raises(AuthError, match="expired"):
        verify(token, key, leeway=10, now=now)


def test_module_key_must_be_one_the_route_serves(key):
    with pytest.raises(AuthError, match="module 'lifecycle-trigger'"):
        verify(fit("lifecycle-trigger", key), key)
    claims = fit_claims(MODULE)
    claims["app"]["module"] = {}
    with pytest.raises(AuthError, match=r"module\.key"):
        verify(sign(claims, key), key)


@pytest.mark.parametrize(
    "api_base",
    ["https://evil.example.com/ex/jira/x", "http://api.atlassian.com/ex/jira/x", "ftp://api.atlassian.com/x",
     "https://user:pw@api.atlassian.com/ex/jira/x", "https://api.atlassian.com.evil.com/ex/jira/x", ""],
)
def test_api_base_url_host_must_be_allowed(key, api_base):
    with pytest.raises(AuthError, match="apiBaseUrl"):
        verify(fit(MODULE, key, api_base=api_base), key)


def test_api_host_patterns():
    assert api_host_allowed("https://api.atlassian.com/ex/jira/1", ["api.atlassian.com"])
    assert api_host_allowed("https://api.stg.atlassian.com/ex/jira/1", ["*.atlassian.com"])
    assert api_host_allowed("http://127.0.0.1:9000/ex/jira/1", ["127.0.0.1"])  # http on loopback only
    assert not api_host_allowed("http://10.0.0.1/ex/jira/1", ["10.0.0.1"])
    assert not api_host_allowed("https://api.atlassian.com:bad/x", ["api.atlassian.com"])
    assert not api_host_allowed("https://api.atlassian.com/x?u=1", ["api.atlassian.com"])
    assert not api_host_allowed("https://api.atlassian.com/x", [])


def test_alg_none_is_refused(key):
    with pytest.raises(AuthError, match="'none' is not allowed"):
        verify(unsigned(fit_claims(MODULE), {"alg": "none", "kid": key.kid}), key)


def test_hs256_signed_with_the_public_key_is_refused_before_any_key_lookup(key):
    calls = []

    def get_key(kid):
        calls.append(kid)
        return load_pem_public_key(key.public_pem.encode())

    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    import hashlib
    import hmac

    body = unsigned(fit_claims(MODULE), header).rstrip(".")
    mac = hmac.new(key.public_pem.encode(), body.encode(), hashlib.sha256).digest()
    token = body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="'HS256' is not allowed"):
        verify_fit(token, get_key=get_key, app_id=APP_ID, modules=(MODULE,), allowed_api_hosts=HOSTS)
    assert calls == []


def test_a_signature_from_another_key_is_refused(key, other_key):
    forged = sign(fit_claims(MODULE), other_key, kid=key.kid)
    with pytest.raises(AuthError, match="signature does not verify"):
        verify(forged, key)


def test_unknown_or_unsafe_kid_is_refused(key, other_key):
    with pytest.raises(AuthError, match="no key"):
        verify(fit(MODULE, other_key), key)
    for kid in ("", "../../etc/passwd", "a b", "x" * 300):
        with pytest.raises(AuthError, match="kid"):
            verify(sign(fit_claims(MODULE), key, kid=kid), key)


def test_a_non_rsa_key_or_a_failing_lookup_is_an_auth_failure(key):
    def weird(_kid):
        return "not a key"

    def broken(_kid):
        raise RuntimeError("boom")

    for get_key in (weird, broken):
        with pytest.raises(AuthError):
            verify_fit(fit(MODULE, key), get_key=get_key, app_id=APP_ID, modules=(MODULE,), allowed_api_hosts=HOSTS)


def test_key_service_outage_propagates_as_such(key):
    def down(_kid):
        raise KeyServiceUnavailableError("down")

    with pytest.raises(KeyServiceUnavailableError):
        verify_fit(fit(MODULE, key), get_key=down, app_id=APP_ID, modules=(MODULE,), allowed_api_hosts=HOSTS)


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "x" * 20_000])
def test_malformed_tokens(key, token):
    with pytest.raises(AuthError):
        verify(token, key)


def test_no_app_id_configured_refuses_everything(key):
    with pytest.raises(AuthError, match="app id"):
        verify(fit(MODULE, key), key, app_id="")


# ---------------------------------------------------------------------- the Authorization header
def test_bearer_token_is_read_from_the_header():
    assert bearer_token({"Authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"
    assert bearer_token({"authorization": "bearer   abc"}) == "abc"
    for headers in ({}, {"Authorization": "JWT abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer a b"}, {"Authorization": "Basic dXNlcg=="}):
        with pytest.raises(AuthError):
            bearer_token(headers)


# ---------------------------------------------------------------------- the system token's expiry
def test_system_token_expiry_is_its_exp_claim_else_55_minutes():
    now = 1_000_000.0
    assert token_expiry(system_token(now + 900), now=now) == now + 900
    assert token_expiry("opaque-token", now=now) == now + 55 * 60
    no_exp = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    assert token_expiry(no_exp, now=now) == now + 55 * 60


# ---------------------------------------------------------------------- the JWKS client
def test_forge_keys_fetch_cache_and_refetch_once_for_a_new_kid(key, other_key):
    with JwksServer([key]) as server:
        keys = ForgeKeys(server.url, lifespan=600, timeout=2, cooldown=0)
        assert keys(key.kid).public_numbers() == load_pem_public_key(key.public_pem.encode()).public_numbers()
        keys(key.kid)
        assert server.hits == 1  # the set is cached
        server.set_keys([key, other_key])  # Atlassian rotates in a new key
        verify_fit(fit(MODULE, other_key), get_key=keys, app_id=APP_ID, modules=(MODULE,),
                   allowed_api_hosts=HOSTS)
        assert server.hits == 2  # one refetch for the unknown kid, and it is found
        with pytest.raises(AuthError, match="no Forge signing key"):
            keys("never-heard-of-it")
        assert server.hits == 3  # one refetch, then refused


def test_forge_keys_cooldown_limits_refetches(key):
    with JwksServer([key]) as server:
        keys = ForgeKeys(server.url, lifespan=600, timeout=2, cooldown=60)
        keys(key.kid)
        for kid in ("made-up-1", "made-up-2", "made-up-3"):
            with pytest.raises(AuthError):
                keys(kid)
        assert server.hits == 1


def test_forge_keys_report_an_unreachable_or_broken_key_server(key):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(KeyServiceUnavailableError):
        ForgeKeys(f"http://127.0.0.1:{port}/jwks.json", timeout=1)(key.kid)
    with JwksServer([key]) as server:
        for body in (b"not json", {"keys": []}, [1, 2]):
            server.body = body
            with pytest.raises((KeyServiceUnavailableError, AuthError)) as info:
                ForgeKeys(server.url, timeout=2, cooldown=0)(key.kid)
            assert isinstance(info.value, KeyServiceUnavailableError), body


def test_forge_keys_refuse_a_bad_url():
    with pytest.raises(ConfigError):
        ForgeKeys("file:///etc/passwd")
    with pytest.raises(ConfigError):
        ForgeKeys("https://x.test/jwks", lifespan=0)
