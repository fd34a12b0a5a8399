"""Outbound signing: ConnectJwtAuth and BearerAuth on real requests sessions."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import jwt as pyjwt
import pytest
import requests
import responses
from atlassian import Jira

from connect_app.errors import AuthError, ConfigError
from connect_app.jira.auth import BearerAuth, ConnectJwtAuth
from connect_app.platform.connect.jwt import canonical_request, verify_hs256

SITE = "https://acme.atlassian.net"
SITE_WITH_PATH = "https://acme.atlassian.net/jira"
APP_KEY = "jira-ai-assistant"
SECRET = "outbound-shared-secret-1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
NOW = 1_700_000_000


class TickingClock:
    """A clock that moves one second per reading, so each signature gets its own iat."""

    def __init__(self, start: int = NOW) -> None:
        self._ticks = itertools.count(start)
        self.readings: list[int] = []

    def __call__(self) -> float:
        value = next(self._ticks)
        self.readings.append(value)
        return float(value)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


def _token_of(request: requests.PreparedRequest) -> str:
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "JWT"
    return token


def _verify(request: requests.PreparedRequest, base_url: str, now: float) -> dict:
    """Verify the request's token exactly as Jira would: for this method and this URL."""
    return verify_hs256(
        _token_of(request), lookup_secret={APP_KEY: SECRET}.get, method=request.method, url=request.url,
        base_url=base_url, leeway=0, now=now,
    )


def _session(base_url: str, clock=None, ttl: int = 180) -> requests.Session:
    session = requests.Session()
    session.auth = ConnectJwtAuth(issuer=APP_KEY, secret=SECRET, base_url=base_url, ttl=ttl,
                                  clock=clock or TickingClock())
    return session


# ---------------------------------------------------------------------- ConnectJwtAuth with requests
def test_signed_request_with_odd_query_verifies_for_the_exact_url(mocked):
    url = f"{SITE_WITH_PATH}/rest/api/3/search/jql"
    mocked.get(url, json={"issues": []})
    params = {
        "jql": 'project = "A&B" AND text ~ "50%+ off" ORDER BY created DESC',
        "fields": ["summary", "status,labels"],
        "name": "Zoë 日本 ✓",
        "empty": "",
    }
    _session(SITE_WITH_PATH).get(url, params=params)
    sent = mocked.calls[0].request
    claims = _verify(sent, SITE_WITH_PATH, NOW)
    assert claims["iss"] == APP_KEY and claims["exp"] == NOW + 180
    assert canonical_request(sent.method, sent.url, SITE_WITH_PATH) == (
        "GET&/rest/api/3/search/jql&empty=&fields=status%2Clabels,summary"
        "&jql=project%20%3D%20%22A%26B%22%20AND%20text%20~%20%2250%25%2B%20off%22%20ORDER%20BY%20created%20DESC"
        "&name=Zo%C3%AB%20%E6%97%A5%E6%9C%AC%20%E2%9C%93"
    )
    # The same token is no good for a neighbouring request.
    with pytest.raises(AuthError, match="qsh does not match"):
        verify_hs256(_token_of(sent), lookup_secret={APP_KEY: SECRET}.get, method="GET",
                     url=sent.url.replace("created", "updated"), base_url=SITE_WITH_PATH, now=NOW)


def test_raw_url_with_plus_space_and_encoded_path(mocked):
    url = f"{SITE}/rest/api/3/issue/AI-7/properties/ai%20reply?q=a+b&r=a%2Bb&s=x y"
    mocked.put(f"{SITE}/rest/api/3/issue/AI-7/properties/ai%20reply", status=204)
    _session(SITE).put(url, json={"value": 1})
    sent = mocked.calls[0].request
    _verify(sent, SITE, NOW)
    assert canonical_request(sent.method, sent.url, SITE) == (
        "PUT&/rest/api/3/issue/AI-7/properties/ai%20reply&q=a%20b&r=a%2Bb&s=x%20y"
    )


def test_post_body_is_not_part_of_the_signature(mocked):
    url = f"{SITE}/rest/api/3/issue/AI-1/comment"
    mocked.post(url, status=201, json={"id": "10"})
    _session(SITE).post(url, json={"body": {"type": "doc", "version": 1, "content": []}})
    sent = mocked.calls[0].request
    assert canonical_request(sent.method, sent.url, SITE) == "POST&/rest/api/3/issue/AI-1/comment&"
    _verify(sent, SITE, NOW)


def test_every_send_is_signed_afresh(mocked):
    url = f"{SITE}/rest/api/3/myself"
    mocked.get(url, json={})
    mocked.get(url, json={})
    clock = TickingClock()
    session = _session(SITE, clock)
    session.get(url)
    session.get(url)
    first, second = (call.request for call in mocked.calls)
    assert _verify(first, SITE, NOW)["iat"] == NOW
    assert _verify(second, SITE, NOW + 1)["iat"] == NOW + 1
    assert _token_of(first) != _token_of(second)


def test_requests_to_another_origin_are_not_signed(mocked, caplog):
    caplog.set_level(logging.WARNING, logger="connect_app.jira.auth")
    for url in ("https://evil.example.com/rest/api/3/myself", "http://acme.atlassian.net/rest/api/3/myself",
                "https://acme.atlassian.net:8443/rest/api/3/myself"):
        mocked.get(url, json={})
        _session(SITE).get(url)
        assert "Authorization" not in mocked.calls[-1].request.headers
    assert "not signing a request to https://evil.example.com:443" in caplog.text


def test_default_port_and_host_case_are_the_same_origin(mocked):
    mocked.get(f"{SITE}/rest/api/3/myself", json={})
    _session("https://ACME.atlassian.net:443").get(f"{SITE}/rest/api/3/myself")
    assert mocked.calls[0].request.headers["Authorization"].startswith("JWT ")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret": ""}, "shared secret"),
        ({"issuer": ""}, "app key as issuer"),
        ({"base_url": "acme.atlassian.net"}, "absolute http(s) URL"),
        ({"base_url": "ftp://acme.atlassian.net"}, "absolute http(s) URL"),
        ({"ttl": 0}, "ttl must be positive"),
    ],
)
def test_connect_auth_refuses_bad_configuration(kwargs, reason):
    args = {"issuer": APP_KEY, "secret": SECRET, "base_url": SITE} | kwargs
    with pytest.raises(ConfigError) as info:
        ConnectJwtAuth(**args)
    assert reason in str(info.value)


def test_repr_hides_the_secret():
    auth = ConnectJwtAuth(issuer=APP_KEY, secret=SECRET, base_url=SITE)
    assert SECRET not in repr(auth) and SECRET not in str(auth)
    assert repr(auth) == f"ConnectJwtAuth(issuer={APP_KEY!r}, base_url={SITE!r}, ttl=180, secret=***)"


# ---------------------------------------------------------------------- BearerAuth
def test_bearer_auth_asks_the_provider_on_every_send(mocked):
    url = "https://api.atlassian.com/ex/jira/cloud-id/rest/api/3/myself"
    mocked.get(url, json={})
    mocked.get(url, json={})
    tokens = iter(["system-token-one", "system-token-two"])
    session = requests.Session()
    session.auth = BearerAuth(lambda: next(tokens))
    session.get(url)
    session.get(url)
    assert [c.request.headers["Authorization"] for c in mocked.calls] == [
        "Bearer system-token-one", "Bearer system-token-two"
    ]


def test_bearer_auth_without_a_token():
    session = requests.Session()
    session.auth = BearerAuth(lambda: "")
    with pytest.raises(AuthError, match="no bearer token"):
        session.get("https://api.atlassian.com/x")


def test_bearer_auth_repr_hides_the_token():
    auth = BearerAuth(lambda: "system-token-secret")
    assert "system-token-secret" not in repr(auth)
    with pytest.raises(ConfigError):
        BearerAuth("not callable")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- through atlassian-python-api
def _jira(session: requests.Session, base_url: str, **retry) -> Jira:
    return Jira(url=base_url, session=session, cloud=True, **retry)


def test_atlassian_client_requests_are_signed(mocked):
    url = f"{SITE_WITH_PATH}/rest/api/3/search/jql"
    mocked.get(url, json={"issues": []})
    jira = _jira(_session(SITE_WITH_PATH), SITE_WITH_PATH)
    jira.get("rest/api/3/search/jql", params={"jql": 'summary ~ "a+b & c"', "fields": "summary,status"})
    sent = mocked.calls[0].request
    _verify(sent, SITE_WITH_PATH, NOW)
    assert canonical_request(sent.method, sent.url, SITE_WITH_PATH) == (
        "GET&/rest/api/3/search/jql&fields=summary%2Cstatus&jql=summary%20~%20%22a%2Bb%20%26%20c%22"
    )


def test_retry_after_is_resent_with_a_fresh_token(mocked):
    """atlassian-python-api's own Retry-After loop re-sends through the session: a new token each time.

    That loop handles a 429 with Retry-After when its urllib3-level retries are off
    (backoff_and_retry=False, retry_with_header=True, the default).
    """
    url = f"{SITE}/rest/api/2/myself"
    mocked.get(url, status=429, headers={"Retry-After": "0"}, json={"errorMessages": ["slow down"]})
    mocked.get(url, status=200, json={"accountId": "app"})
    clock = TickingClock()
    jira = _jira(_session(SITE, clock), SITE)
    assert jira.myself() == {"accountId": "app"}
    first, second = (call.request for call in mocked.calls)
    assert _verify(first, SITE, NOW)["iat"] == NOW
    assert _verify(second, SITE, NOW + 1)["iat"] == NOW + 1
    assert _token_of(first) != _token_of(second)


def test_backoff_and_retry_resends_the_same_still_valid_token(mocked):
    """With urllib3 2, backoff_and_retry=True retries inside the HTTP adapter.

    The adapter re-sends the prepared request as it is, so the auth object is not called again:
    both attempts carry the same token, valid only while the retries stay within its ttl.
    """
    url = f"{SITE}/rest/api/2/myself"
    mocked.get(url, status=429, headers={"Retry-After": "0"}, json={})
    mocked.get(url, status=200, json={"accountId": "app"})
    clock = TickingClock()
    jira = _jira(_session(SITE, clock), SITE, backoff_and_retry=True, retry_status_codes=[429, 503],
                 max_backoff_retries=3, backoff_factor=0, backoff_jitter=0)
    assert jira.myself() == {"accountId": "app"}
    assert len(mocked.calls) == 2
    first, second = (call.request for call in mocked.calls)
    for request in (first, second):
        assert _verify(request, SITE, NOW)["qsh"]
    assert _token_of(first) == _token_of(second)
    assert clock.readings == [NOW]


def test_no_token_or_secret_in_logs(mocked, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"{SITE}/rest/api/2/myself"
    mocked.get(url, status=429, headers={"Retry-After": "0"}, json={})
    mocked.get(url, status=200, json={"accountId": "app"})
    mocked.get("https://evil.example.com/x", json={})
    session = _session(SITE)
    _jira(session, SITE).myself()
    session.get("https://evil.example.com/x")
    tokens = [_token_of(call.request) for call in mocked.calls[:2]]
    assert caplog.records  # atlassian-python-api and urllib3 did log at DEBUG
    for secret in [SECRET, *tokens, *(t.split(".")[2] for t in tokens)]:
        assert secret not in caplog.text
    assert pyjwt.get_unverified_header(tokens[0])["alg"] == "HS256"
