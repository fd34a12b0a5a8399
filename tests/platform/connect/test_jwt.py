"""Connect JWT: canonical requests (test vectors), signing, extraction and every rejection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.datastructures import Headers, MultiDict

from connect_app.errors import AuthError, ConfigError, StorageError
from connect_app.platform.connect.jwt import (
    CONTEXT_QSH,
    canonical_request,
    check_kid,
    encode_hs256,
    extract_token,
    is_valid_kid,
    query_string_hash,
    sign_request,
    verify_hs256,
    verify_install_rs256,
)

NOW = 1_700_000_000
CLIENT_KEY = "jira:0f1e2d3c-site-a"
OTHER_KEY = "jira:9a8b7c6d-site-b"
SECRET = "site-a-shared-secret-7f3c9d2e1b4a5f6e8d7c6b5a4f3e2d1c"
OTHER_SECRET = "site-b-shared-secret-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
SECRETS = {CLIENT_KEY: SECRET, OTHER_KEY: OTHER_SECRET}
APP_BASE = "https://app.example.com/connect"
URL = "https://app.example.com/connect/webhooks/comment-created?issue=AI-1&user_id=5b10%3Aab&lic=none"
KID = "0e3f2a1b-install-key"
VECTORS_FILE = Path(__file__).with_name("atlassian_jwt_signed_urls.json")


# ---------------------------------------------------------------------- helpers
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A token assembled by hand, for attacks PyJWT refuses to produce."""
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


def _hmac_token(header: dict, claims: dict, key: bytes) -> str:
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{unsigned}.{_b64(hmac.new(key, unsigned.encode(), hashlib.sha256).digest())}"


def _claims(**overrides) -> dict:
    claims = {
        "iss": CLIENT_KEY,
        "sub": "557058:user",
        "iat": NOW,
        "exp": NOW + 180,
        "qsh": query_string_hash("POST", URL, APP_BASE),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs(claims: dict, secret: str = SECRET, **kwargs) -> str:
    return pyjwt.encode(claims, secret, algorithm="HS256", **kwargs)


def _verify(token: str, **overrides) -> dict:
    args = {"lookup_secret": SECRETS.get, "method": "POST", "url": URL, "base_url": APP_BASE, "now": NOW}
    args.update(overrides)
    return verify_hs256(token, **args)


def _rejected(call, reason: str, *, token: str = "", secrets: tuple[str, ...] = (SECRET, OTHER_SECRET)) -> str:
    """Run ``call``, expect AuthError whose message has ``reason`` and no token or secret."""
    with pytest.raises(AuthError) as info:
        call()
    message = str(info.value)
    assert reason in message, message
    for secret in secrets:
        assert secret not in message
    if token:
        assert token not in message
        for part in token.split("."):
            if len(part) > 8:
                assert part not in message
    return message


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@pytest.fixture(scope="module")
def other_rsa_private() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# ---------------------------------------------------------------------- canonical request vectors
# (method, url, base_url, expected canonical request). Where Atlassian's Java and npm
# implementations disagree, Jira's Java behaviour wins (it signs and checks the tokens).
CANONICAL_VECTORS = [
    # Atlassian's documented example ("not-yet-percent-encoded URL").
    ("GET", "http://localhost:2990/path/to/service?zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2",
     "", "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"),
    # Repeated values are sorted raw, by code unit: 'P' < 'p'.
    ("get", "/path/to/service?zee_last=param&repeated=parameter+1&first=param&repeated=parameter+2&repeated=Parameter+2",
     "", "GET&/path/to/service&first=param&repeated=Parameter%202,parameter%201,parameter%202&zee_last=param"),
    # Base path is not part of the canonical path (absolute base, path-only base, trailing '/').
    ("GET", "https://bitbucket.org/base/path/to/service?a=1", "https://bitbucket.org/base", "GET&/path/to/service&a=1"),
    ("GET", "https://x.atlassian.net/jira/rest/api/2/project/jira?x=y", "/jira", "GET&/rest/api/2/project/jira&x=y"),
    ("GET", "https://x.atlassian.net/jira/rest/api/2/myself", "https://x.atlassian.net/jira/", "GET&/rest/api/2/myself&"),
    ("GET", "https://x.atlassian.net/jira", "https://x.atlassian.net/jira", "GET&/&"),
    ("GET", "https://x.atlassian.net/jira/", "https://x.atlassian.net/jira", "GET&/&"),
    ("GET", "http://localhost:2990/jira/rest?x=1", "http://localhost:2990/jira", "GET&/rest&x=1"),
    # ... but only whole segments: /jiraffe is not under /jira.
    ("GET", "https://x.atlassian.net/jiraffe/x", "https://x.atlassian.net/jira", "GET&/jiraffe/x&"),
    ("GET", "https://x.atlassian.net/other/x", "https://x.atlassian.net/jira", "GET&/other/x&"),
    # Empty path is '/'; one trailing '/' is removed; the root keeps its '/'.
    ("GET", "https://x.atlassian.net", "", "GET&/&"),
    ("GET", "https://x.atlassian.net/", "", "GET&/&"),
    ("GET", "", "", "GET&/&"),
    ("GET", "/rest/api/3/issue/", "", "GET&/rest/api/3/issue&"),
    ("GET", "/a//", "", "GET&/a/&"),
    # '&' in the path is encoded so it cannot pose as a query parameter.
    ("POST", "/jira/rest/api/2/project/jira&a=b&c=d?x=y", "/jira", "POST&/rest/api/2/project/jira%26a=b%26c=d&x=y"),
    ("POST", "/rest/api/2/project&a=b", "", "POST&/rest/api/2/project%26a=b&"),
    # The path stays raw: percent-escapes are neither decoded nor re-encoded.
    ("GET", "/rest/api/3/issue/A%20B/x%2Fy/%7Euser", "", "GET&/rest/api/3/issue/A%20B/x%2Fy/%7Euser&"),
    ("GET", "/path-._~!$'()*+,;=:@", "", "GET&/path-._~!$'()*+,;=:@&"),
    # A path-only URL starting with '//' is a path, not a host.
    ("GET", "//evil.example/x?a=1", "", "GET&//evil.example/x&a=1"),
    # Keys without '=' and empty values become 'key='; empty segments vanish.
    ("GET", "/hello-world?a&b=foo&c", "", "GET&/hello-world&a=&b=foo&c="),
    ("GET", "/x?a=1&&b=&", "", "GET&/x&a=1&b="),
    # The jwt parameter is left out (exact, case-sensitive name).
    ("GET", "/x?jwt=abc.def.ghi&b=2&JWT=keep", "", "GET&/x&JWT=keep&b=2"),
    # '+' is a space, %2B a literal '+', %20 a space; space is always %20.
    ("GET", "/x?q=a+b&r=a%2Bb&s=a%20b", "", "GET&/x&q=a%20b&r=a%2Bb&s=a%20b"),
    # RFC 3986: only A-Za-z0-9-._~ unencoded; '*' -> %2A, %7E -> '~'; upper-case hex.
    ("GET", "/x?v=*~%7e!'()", "", "GET&/x&v=%2A~~%21%27%28%29"),
    # Commas inside a value are encoded; the separator between repeated values is not.
    ("GET", "/x?f=summary,status&f=labels", "", "GET&/x&f=labels,summary%2Cstatus"),
    # Keys sort by their encoded form (Java): "a%2Fb" < "a.b" (the npm library would put a.b first).
    ("GET", "/x?a.b=1&a/b=2", "", "GET&/x&a%2Fb=2&a.b=1"),
    # Code-point order, upper case first.
    ("GET", "/x?b=1&a=2&B=3&A=4", "", "GET&/x&A=4&B=3&a=2&b=1"),
    # Unicode keys and values, raw or percent-encoded, come out as UTF-8 escapes.
    ("GET", "/x?z=2&%C3%A9=1&q=日本", "", "GET&/x&%C3%A9=1&q=%E6%97%A5%E6%9C%AC&z=2"),
    # Repeated values sort by UTF-16 code units like Java/JavaScript: U+1F600 (D83D DE00) < U+FF01.
    ("GET", "/x?v=%EF%BC%81&v=%F0%9F%98%80", "", "GET&/x&v=%F0%9F%98%80,%EF%BC%81"),
    # Malformed escapes stay literal and their '%' is encoded.
    ("GET", "/x?q=%zz&r=100%", "", "GET&/x&q=%25zz&r=100%25"),
    # The fragment is not part of the request.
    ("GET", "/x?a=1#frag?b=2", "", "GET&/x&a=1"),
    ("DELETE", "https://x.atlassian.net/rest/api/3/issue/AI-1?deleteSubtasks=true", "", "DELETE&/rest/api/3/issue/AI-1&deleteSubtasks=true"),
]


@pytest.mark.parametrize(("method", "url", "base_url", "expected"), CANONICAL_VECTORS)
def test_canonical_request_vectors(method, url, base_url, expected):
    assert canonical_request(method, url, base_url) == expected
    assert query_string_hash(method, url, base_url) == hashlib.sha256(expected.encode()).hexdigest()


# Hashes published with the npm atlassian-jwt library's tests.
KNOWN_HASHES = [
    ("GET", "/path", "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"),
    ("GET", "", "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"),
    ("GET", "/", "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"),
    ("POST", "/hello-world", "6f95f3738e1b037a3bebbe0ad237d80fdbc1d5ae452e98ce03a9c004c178ebb4"),
    (
        "GET",
        "/hello-world?lic=none&tz=Australia%2FSydney&cp=%2Fjira&user_key=&loc=en-US&user_id=&jwt=x.y.z"
        "&xdm_e=http%3A%2F%2Fstorm%3A2990&xdm_c=channel-servlet-hello-world&xdm_p=1",
        "8063ff4ca1e41df7bc90c8ab6d0f6207d491cf6dad7c66ea797b4614b71922e9",
    ),
]


@pytest.mark.parametrize(("method", "url", "expected"), KNOWN_HASHES)
def test_known_query_string_hashes(method, url, expected):
    assert query_string_hash(method, url) == expected


def _atlassian_vectors() -> list[dict]:
    data = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return [dict(t, secret=data["secret"], iat=data["iat"]) for t in data["tests"]]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("vector", _atlassian_vectors(), ids=lambda v: v["name"])
def test_atlassian_signed_urls_verify(vector):
    """Tokens signed by Atlassian's Java implementation verify, qsh computed by us."""
    url = vector["signedUrl"]
    token = url.split("jwt=", 1)[1]
    if vector.get("legacy"):
        # Signed before '&' in paths was encoded: the old form hashes to the token's qsh, ours differs.
        claims = pyjwt.decode(token, vector["secret"], algorithms=["HS256"], options={"verify_exp": False})
        assert hashlib.sha256(vector["canonicalUrl"].encode()).hexdigest() == claims["qsh"]
        assert canonical_request("GET", url) == vector["modernCanonicalUrl"]
        assert query_string_hash("GET", url) != claims["qsh"]
        return
    assert canonical_request("GET", url) == vector["canonicalUrl"]
    claims = verify_hs256(
        token, lookup_secret={"jira:1234-5678-9000": vector["secret"]}.get, method="GET", url=url,
        now=vector["iat"] + 10,
    )
    assert claims["iss"] == "jira:1234-5678-9000"


def test_path_only_and_absolute_urls_hash_alike():
    assert query_string_hash("get", "/rest/api/3/myself?x=1") == query_string_hash(
        "GET", "https://x.atlassian.net/rest/api/3/myself?x=1"
    )


# ---------------------------------------------------------------------- signing
def test_sign_request_claims_and_header():
    url = "https://acme.atlassian.net/jira/rest/api/3/issue/AI-1/comment?expand=renderedBody"
    token = sign_request("post", url, issuer="ai-assistant", secret=SECRET,
                         base_url="https://acme.atlassian.net/jira", ttl=120, now=NOW + 0.9)
    assert pyjwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = pyjwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "iss": "ai-assistant",
        "iat": NOW,
        "exp": NOW + 120,
        "qsh": hashlib.sha256(b"POST&/rest/api/3/issue/AI-1/comment&expand=renderedBody").hexdigest(),
    }


def test_signed_request_round_trips_through_verify():
    token = sign_request("PUT", URL, issuer=CLIENT_KEY, secret=SECRET, base_url=APP_BASE, now=NOW)
    assert _verify(token, method="PUT")["iss"] == CLIENT_KEY


def test_encode_hs256_signs_any_claims():
    token = encode_hs256({"iss": "a", "custom": [1, 2]}, SECRET)
    assert pyjwt.decode(token, SECRET, algorithms=["HS256"]) == {"iss": "a", "custom": [1, 2]}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret": ""}, "shared secret is empty"),
        ({"issuer": ""}, "issuer (app key) is empty"),
        ({"ttl": 0}, "ttl must be positive"),
    ],
)
def test_sign_request_refuses_bad_input(kwargs, reason):
    args = {"issuer": "app", "secret": SECRET} | kwargs
    with pytest.raises(ConfigError, match=re.escape(reason)):
        sign_request("GET", "/x", **args)


# ---------------------------------------------------------------------- extraction
def test_extract_from_header_and_query():
    assert extract_token({"Authorization": "JWT a.b.c"}, {}) == "a.b.c"
    assert extract_token({"authorization": "jwt  a.b.c "}, {}) == "a.b.c"
    assert extract_token({}, {"jwt": ["a.b.c"]}) == "a.b.c"
    assert extract_token({}, {"jwt": "a.b.c"}) == "a.b.c"
    assert extract_token(Headers({"Authorization": "JWT a.b.c"}), MultiDict()) == "a.b.c"
    assert extract_token(Headers(), MultiDict([("jwt", "a.b.c"), ("x", "1")])) == "a.b.c"


@pytest.mark.parametrize(
    ("headers", "query", "reason"),
    [
        ({}, {}, "no JWT: expected"),
        ({"Authorization": "JWT a.b.c"}, {"jwt": ["a.b.c"]}, "both in the Authorization header and in the jwt query"),
        (Headers([("Authorization", "JWT a.b.c"), ("Authorization", "JWT d.e.f")]), MultiDict(),
         "more than one 'Authorization: JWT' header"),
        ({"Authorization": "JWT a.b.c", "authorization": "JWT d.e.f"}, {}, "more than one 'Authorization: JWT' header"),
        ({}, MultiDict([("jwt", "a.b.c"), ("jwt", "d.e.f")]), "jwt query parameter is given more than once"),
        ({}, {"jwt": ["a.b.c", "d.e.f"]}, "jwt query parameter is given more than once"),
        ({"Authorization": "Bearer abc"}, {}, "uses the 'Bearer' scheme, not JWT"),
        ({"Authorization": "JWT "}, {}, "the JWT is empty"),
        ({}, {"jwt": [""]}, "the JWT is empty"),
        ({"Authorization": "JWT a.b.c, JWT d.e.f"}, {}, "spaces or commas"),
    ],
)
def test_extract_rejections(headers, query, reason):
    _rejected(lambda: extract_token(headers, query), reason)


# ---------------------------------------------------------------------- verify_hs256: acceptance
def test_verify_hs256_accepts_a_valid_token():
    token = _hs(_claims())
    claims = _verify(token)
    assert claims["iss"] == CLIENT_KEY and claims["sub"] == "557058:user"


def test_verify_hs256_accepts_within_leeway():
    _verify(_hs(_claims(exp=NOW - 59)))  # expired 59 s ago, leeway 60
    _verify(_hs(_claims(iat=NOW + 59)))  # issued 59 s ahead
    _verify(_hs(_claims(nbf=NOW + 30)))
    _verify(_hs(_claims(exp=NOW - 5)), leeway=10)


def test_verify_hs256_context_qsh_only_where_allowed():
    token = _hs(_claims(qsh=CONTEXT_QSH))
    assert _verify(token, allow_context_qsh=True)["qsh"] == CONTEXT_QSH
    _rejected(lambda: _verify(token), "qsh is 'context-qsh', which is not accepted", token=token)


def test_verify_hs256_relative_url_and_base_path():
    url = "/connect/webhooks/comment-created?user_id=5b10%3Aab&issue=AI-1&lic=none"
    _verify(_hs(_claims()), url=url, base_url="/connect")


def test_lookup_secret_errors_propagate():
    def broken(_iss):
        raise StorageError("redis is down")

    with pytest.raises(StorageError):
        _verify(_hs(_claims()), lookup_secret=broken)


# ---------------------------------------------------------------------- verify_hs256: rejections
def test_alg_none_is_rejected():
    token = _raw_token({"alg": "none", "typ": "JWT"}, _claims())
    _rejected(lambda: _verify(token), "JWT algorithm 'none' is not allowed here; expected HS256", token=token)


@pytest.mark.parametrize("alg", ["None", "NONE", "HS384", "HS512", "hs256", "ES256", "PS256", "", None])
def test_other_algorithms_are_rejected(alg):
    header = {"typ": "JWT"} if alg is None else {"alg": alg, "typ": "JWT"}
    token = _hmac_token(header, _claims(), SECRET.encode())
    _rejected(lambda: _verify(token), f"JWT algorithm {alg!r} is not allowed here; expected HS256", token=token)


def test_rs256_token_where_hs256_expected(rsa_keys):
    token = pyjwt.encode(_claims(), rsa_keys[0], algorithm="RS256")
    _rejected(lambda: _verify(token), "JWT algorithm 'RS256' is not allowed here; expected HS256", token=token)


def test_hs256_signed_with_rsa_public_key_is_rejected(rsa_keys):
    """Alg confusion: an attacker signs HS256 with the (public) RSA key as the HMAC secret."""
    token = _hmac_token({"alg": "HS256", "typ": "JWT"}, _claims(), rsa_keys[1].encode())
    _rejected(lambda: _verify(token), f"JWT signature does not verify with the shared secret of issuer {CLIENT_KEY!r}",
              token=token)
    # Even if a PEM were ever stored as a secret, PyJWT refuses it as an HMAC key.
    _rejected(lambda: _verify(token, lookup_secret=lambda _iss: rsa_keys[1]), "cannot verify an HS256 signature",
              token=token, secrets=(rsa_keys[1],))


def test_expired_token():
    token = _hs(_claims(iat=NOW - 600, exp=NOW - 61))
    _rejected(lambda: _verify(token), "JWT expired 61 s ago", token=token)
    _rejected(lambda: _verify(_hs(_claims(exp=NOW - 60))), "JWT expired 60 s ago")
    _rejected(lambda: _verify(_hs(_claims(exp=NOW - 1)), leeway=0), "JWT expired 1 s ago")


def test_iat_in_the_future():
    token = _hs(_claims(iat=NOW + 61, exp=NOW + 300))
    _rejected(lambda: _verify(token), "JWT was issued in the future: iat is 61 s ahead", token=token)


def test_nbf_in_the_future():
    token = _hs(_claims(nbf=NOW + 3600))
    _rejected(lambda: _verify(token), "JWT is not valid yet: nbf is 3600 s ahead", token=token)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": None}, "JWT has no exp claim"),
        ({"exp": "1700000180"}, "JWT exp claim is not a number"),
        ({"exp": True}, "JWT exp claim is not a number"),
        ({"iat": "now"}, "JWT iat claim is not a number"),
        ({"nbf": [1]}, "JWT nbf claim is not a number"),
        ({"iss": None}, "JWT has no iss claim"),
        ({"iss": ""}, "JWT has no iss claim"),
        ({"iss": 42}, "JWT iss claim is not a string"),
        ({"qsh": None}, "JWT has no qsh claim"),
        ({"qsh": 7}, "JWT qsh claim is not a string"),
    ],
)
def test_missing_or_mistyped_claims(overrides, reason):
    # Built by hand: PyJWT would refuse to encode some of these claims.
    token = _hmac_token({"alg": "HS256", "typ": "JWT"}, _claims(**overrides), SECRET.encode())
    _rejected(lambda: _verify(token), reason, token=token)


def test_unknown_issuer():
    token = _hs(_claims(iss="jira:never-installed"))
    _rejected(lambda: _verify(token), "unknown issuer 'jira:never-installed'", token=token)


def test_issuer_with_empty_secret():
    token = _hs(_claims())
    _rejected(lambda: _verify(token, lookup_secret=lambda _iss: ""), "has no shared secret stored", token=token)


def test_another_sites_secret():
    """Site B signs a token claiming to be site A: A's secret does not verify it."""
    token = _hs(_claims(iss=CLIENT_KEY), secret=OTHER_SECRET)
    _rejected(lambda: _verify(token), f"JWT signature does not verify with the shared secret of issuer {CLIENT_KEY!r}",
              token=token)


def test_tampered_payload_fails_signature():
    header, payload, signature = _hs(_claims()).split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "admin"
    token = f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
    _rejected(lambda: _verify(token), "JWT signature does not verify", token=token)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", URL),  # another method
        ("POST", URL.replace("comment-created", "issue-updated")),  # another path
        ("POST", URL.replace("AI-1", "AI-2")),  # another query value
        ("POST", URL + "&extra=1"),  # an added parameter
        ("POST", URL.replace("&lic=none", "")),  # a removed parameter
        ("POST", "https://app.example.com/connect/webhooks/comment-created&issue=AI-1?user_id=5b10%3Aab&lic=none"),
    ],
)
def test_wrong_qsh(method, url):
    token = _hs(_claims())
    _rejected(lambda: _verify(token, method=method, url=url), f"JWT qsh does not match the request {method} '/webhooks/",
              token=token)


def test_qsh_ignores_the_jwt_parameter_itself():
    token = _hs(_claims())
    _verify(token, url=URL + "&jwt=" + token)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "the JWT is empty"),
        ("not-a-jwt", "malformed JWT"),
        ("a.b", "malformed JWT"),
        ("a.b.c.d", "malformed JWT"),
        ("!!!.???.***", "malformed JWT"),
        (_b64(b"not json") + "." + _b64(b"{}") + ".", "malformed JWT"),
        (_b64(b'{"alg":"HS256"}') + "." + _b64(b"[1,2]") + ".sig", "malformed JWT"),
        (_b64(b'["HS256"]') + "." + _b64(b"{}") + ".sig", "malformed JWT"),
        ("x" * 20_000, "longer than 16384 characters"),
    ],
)
def test_malformed_tokens(token, reason):
    _rejected(lambda: _verify(token), reason, token=token)


def test_non_string_token():
    _rejected(lambda: _verify(None), "the JWT is empty")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- verify_install_rs256
INSTALL_URL = "https://app.example.com/connect/lifecycle/installed"


def _install_claims(**overrides) -> dict:
    claims = {
        "iss": CLIENT_KEY,
        "aud": [APP_BASE],
        "iat": NOW,
        "exp": NOW + 180,
        "qsh": query_string_hash("POST", INSTALL_URL, APP_BASE),
        "context": {},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


class FakeKeys:
    """A ``fetch_key`` that records the kids it was asked for."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.asked: list[str] = []

    def __call__(self, kid: str) -> str:
        self.asked.append(kid)
        if kid not in self.keys:
            raise AuthError(f"install key {kid!r} does not exist on the key server (404)")
        return self.keys[kid]


def _rs(private_pem: str, claims: dict, kid: str | None = KID) -> str:
    headers = {} if kid is None else {"kid": kid}
    return pyjwt.encode(claims, private_pem, algorithm="RS256", headers=headers)


def _verify_install(token: str, fetch_key, **overrides) -> dict:
    args = {"fetch_key": fetch_key, "audience": APP_BASE, "client_key": CLIENT_KEY, "method": "POST",
            "url": INSTALL_URL, "base_url": APP_BASE, "now": NOW}
    args.update(overrides)
    return verify_install_rs256(token, **args)


def test_install_token_verifies(rsa_keys):
    keys = FakeKeys({KID: rsa_keys[1]})
    claims = _verify_install(_rs(rsa_keys[0], _install_claims()), keys)
    assert claims["iss"] == CLIENT_KEY
    assert keys.asked == [KID]


@pytest.mark.parametrize(
    ("aud", "audience"),
    [(APP_BASE, APP_BASE), (APP_BASE + "/", APP_BASE), (APP_BASE, APP_BASE + "/"), (["other", APP_BASE], APP_BASE)],
)
def test_install_audience_forms(rsa_keys, aud, audience):
    _verify_install(_rs(rsa_keys[0], _install_claims(aud=aud)), FakeKeys({KID: rsa_keys[1]}), audience=audience)


def test_install_rejects_hs256_signed_with_public_key(rsa_keys):
    """Alg confusion on the install door: HS256 keyed with the PEM is refused before any key fetch."""
    keys = FakeKeys({KID: rsa_keys[1]})
    token = _hmac_token({"alg": "HS256", "typ": "JWT", "kid": KID}, _install_claims(), rsa_keys[1].encode())
    _rejected(lambda: _verify_install(token, keys), "JWT algorithm 'HS256' is not allowed here; expected RS256",
              token=token)
    assert keys.asked == []


def test_install_rejects_shared_secret_hs256_token():
    """No downgrade: an HS256 token with a known site secret is still not an install token."""
    keys = FakeKeys({})
    token = _hs(_install_claims(), headers={"kid": KID})
    _rejected(lambda: _verify_install(token, keys), "expected RS256", token=token)
    assert keys.asked == []


def test_install_rejects_alg_none(rsa_keys):
    token = _raw_token({"alg": "none", "kid": KID}, _install_claims())
    _rejected(lambda: _verify_install(token, FakeKeys({KID: rsa_keys[1]})), "'none' is not allowed here; expected RS256")


def test_install_rejects_missing_kid(rsa_keys):
    keys = FakeKeys({KID: rsa_keys[1]})
    token = _rs(rsa_keys[0], _install_claims(), kid=None)
    _rejected(lambda: _verify_install(token, keys), "install JWT has no kid header", token=token)
    assert keys.asked == []


@pytest.mark.parametrize(
    "kid",
    ["../../evil", "http://x", "k" * 129, ".hidden", "-dash-first", "a..b", "a/b", "a b", "a%2Fb", "ключ", "a\nb"],
)
def test_install_rejects_crafted_kid(rsa_keys, kid):
    keys = FakeKeys({KID: rsa_keys[1]})
    token = pyjwt.encode(_install_claims(), rsa_keys[0], algorithm="RS256", headers={"kid": kid})
    _rejected(lambda: _verify_install(token, keys), "is not a valid key id", token=token)
    assert keys.asked == []


def test_install_rejects_non_string_kid(rsa_keys):
    keys = FakeKeys({KID: rsa_keys[1]})
    token = _raw_token({"alg": "RS256", "kid": 42}, _install_claims(), b"sig")
    _rejected(lambda: _verify_install(token, keys), "Key ID header parameter must be a string", token=token)
    assert keys.asked == []


def test_kid_rules():
    assert is_valid_kid("a") and is_valid_kid("A1._-b") and is_valid_kid("k" * 128)
    assert not is_valid_kid("k" * 129) and not is_valid_kid("") and not is_valid_kid(None)
    assert check_kid("0e3f2a1b") == "0e3f2a1b"


def test_install_rejects_other_signing_key(rsa_keys, other_rsa_private):
    token = _rs(other_rsa_private, _install_claims())
    _rejected(lambda: _verify_install(token, FakeKeys({KID: rsa_keys[1]})),
              f"JWT signature does not verify with install key {KID!r}", token=token)


def test_install_key_server_404_reason_is_kept(rsa_keys):
    token = _rs(rsa_keys[0], _install_claims(), kid="unknown-kid")
    _rejected(lambda: _verify_install(token, FakeKeys({})), "install key 'unknown-kid' does not exist on the key server (404)",
              token=token)


def test_install_fetch_failure_is_wrapped(rsa_keys):
    def broken(_kid):
        raise OSError("disk on fire")

    token = _rs(rsa_keys[0], _install_claims())
    _rejected(lambda: _verify_install(token, broken), f"could not get install key {KID!r}: OSError", token=token)


def test_install_unusable_key(rsa_keys):
    token = _rs(rsa_keys[0], _install_claims())
    _rejected(lambda: _verify_install(token, lambda _kid: "not a pem"), "cannot verify an RS256 signature", token=token)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://evil.example.com"}, "install JWT aud 'https://evil.example.com' is not this app's base URL"),
        ({"aud": APP_BASE + "/extra"}, "is not this app's base URL"),
        ({"aud": APP_BASE + "//"}, "is not this app's base URL"),
        ({"aud": None}, "install JWT has no aud claim"),
        ({"aud": {"url": APP_BASE}}, "neither a string nor a list of strings"),
        ({"iss": OTHER_KEY}, f"install JWT iss {OTHER_KEY!r} is not the payload clientKey {CLIENT_KEY!r}"),
        ({"iss": None}, "is not the payload clientKey"),
        ({"exp": NOW - 61}, "JWT expired 61 s ago"),
        ({"iat": NOW + 3600, "exp": NOW + 3700}, "JWT was issued in the future"),
        ({"nbf": NOW + 3600}, "JWT is not valid yet"),
        ({"exp": None}, "JWT has no exp claim"),
        ({"qsh": query_string_hash("POST", "/lifecycle/uninstalled")}, "JWT qsh does not match the request POST '/lifecycle/installed'"),
        ({"qsh": CONTEXT_QSH}, "qsh is 'context-qsh', which is not accepted"),
        ({"qsh": None}, "JWT has no qsh claim"),
    ],
)
def test_install_claim_rejections(rsa_keys, overrides, reason):
    token = _rs(rsa_keys[0], _install_claims(**overrides))
    _rejected(lambda: _verify_install(token, FakeKeys({KID: rsa_keys[1]})), reason, token=token)


def test_install_requires_a_client_key(rsa_keys):
    token = _rs(rsa_keys[0], _install_claims())
    _rejected(lambda: _verify_install(token, FakeKeys({KID: rsa_keys[1]}), client_key=""), "has no clientKey")


def test_install_uninstalled_url(rsa_keys):
    url = "https://app.example.com/connect/lifecycle/uninstalled"
    token = _rs(rsa_keys[0], _install_claims(qsh=query_string_hash("POST", url, APP_BASE)))
    _verify_install(token, FakeKeys({KID: rsa_keys[1]}), url=url)


# ---------------------------------------------------------------------- nothing secret in logs
def test_no_token_or_secret_in_logs_or_messages(caplog, rsa_keys):
    caplog.set_level(logging.DEBUG)
    tokens = [
        _hs(_claims()),
        _hs(_claims(exp=NOW - 600)),
        _hs(_claims(), secret=OTHER_SECRET),
        _hs(_claims(qsh="0" * 64)),
        _hs(_claims(iss="jira:unknown")),
        _rs(rsa_keys[0], _install_claims()),
    ]
    messages = []
    for token in tokens:
        for call in (lambda t=token: _verify(t), lambda t=token: _verify(t, method="GET"),
                     lambda t=token: _verify_install(t, FakeKeys({KID: rsa_keys[1]}), audience="https://other")):
            try:
                call()
            except AuthError as exc:
                logging.getLogger("connect_app.web").warning("rejected: %s", exc)
                messages.append(str(exc))
    assert messages
    text = caplog.text + "\n".join(messages)
    for secret in (SECRET, OTHER_SECRET, rsa_keys[0]):
        assert secret not in text
    for token in tokens:
        assert token not in text
        assert token.split(".")[2] not in text
