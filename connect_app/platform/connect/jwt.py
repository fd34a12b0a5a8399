"""Atlassian Connect JWT: the query string hash, signing, and the two verifications.

Pure functions: tokens in, claims out. Secrets and public keys come from callables the caller
injects (``lookup_secret``, ``fetch_key``); nothing here touches Flask, storage or the network.

Canonical request (Atlassian's "Understanding JWT for Connect apps" / ``HttpRequestCanonicalizer``)::

    canonical = METHOD + "&" + canonical path + "&" + canonical query

* method: upper case.
* path: the raw (still percent-encoded) request path, minus the base URL's path when the request
  path lies under it (whole segments only), '' -> '/', one trailing '/' removed (except the root),
  and every '&' written as '%26' so a path cannot imitate query parameters.
* query: the raw query is parsed the way servlets and Node parse it ('+' is a space, '%2B' a
  literal '+', a key without '=' has the value ''), ``jwt`` is dropped, keys and values are
  percent-encoded per RFC 3986 (only ``A-Za-z0-9-._~`` stay as they are, space is ``%20``),
  parameters are sorted by their *encoded* key (Jira's Java implementation; the npm library sorts
  raw keys, which differs only for keys holding characters such as '/', ':' or '.'), the values of a
  repeated parameter are sorted *raw* by UTF-16 code units (as Java and JavaScript compare strings)
  and joined with an unencoded ',', and the pairs are joined with '&'.

``qsh`` is the lowercase hex SHA-256 of the UTF-8 canonical request.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import jwt as pyjwt

from ...errors import AuthError, ConfigError

HS256 = "HS256"
RS256 = "RS256"
CONTEXT_QSH = "context-qsh"
JWT_QUERY_PARAM = "jwt"
MAX_TOKEN_CHARS = 16_384

_KID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# PyJWT checks only the signature; every claim is checked here, against an injectable clock.
_SIGNATURE_ONLY: dict[str, Any] = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


# ---------------------------------------------------------------------- canonical request
def canonical_request(method: str, url: str, base_url: str = "") -> str:
    """The canonical form of a request, as Atlassian hashes it into ``qsh``.

    ``url`` is absolute (``https://x.atlassian.net/rest/api/3/issue/A-1?expand=names``) or a path
    with its query (``/rest/api/3/issue/A-1?expand=names``); ``base_url`` is the site's or app's
    base URL, absolute or only its path, whose path prefix is not part of the canonical path.
    """
    return "&".join(_canonical_parts(method, url, base_url))


def query_string_hash(method: str, url: str, base_url: str = "") -> str:
    """The ``qsh`` claim for a request: hex SHA-256 of :func:`canonical_request`."""
    return hashlib.sha256(canonical_request(method, url, base_url).encode("utf-8")).hexdigest()


def _canonical_parts(method: str, url: str, base_url: str) -> tuple[str, str, str]:
    path, query = _split_url(url)
    base_path = _split_url(base_url)[0] if base_url else ""
    return method.upper(), _canonical_path(path, base_path), _canonical_query(query)


def _split_url(url: str) -> tuple[str, str]:
    """(raw path, raw query) of an absolute URL or of a path with its query; the fragment is dropped.

    A string without a scheme is always a path, so ``//host/x`` is the path ``//host/x``, not a host.
    """
    if _SCHEME_RE.match(url):
        parts = urlsplit(url)
        return parts.path, parts.query
    path, _, query = url.split("#", 1)[0].partition("?")
    return path, query


def _canonical_path(path: str, base_path: str) -> str:
    prefix = base_path.rstrip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix):]
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path.replace("&", "%26")


def _canonical_query(query: str) -> str:
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != JWT_QUERY_PARAM:
            params.setdefault(key, []).append(value)
    encoded = sorted((_encode(key), values) for key, values in params.items())
    return "&".join(
        name + "=" + ",".join(_encode(v) for v in sorted(values, key=_utf16_order))
        for name, values in encoded
    )


def _encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8 (unencodable lone surrogates become '?', as in Java)."""
    return quote(value.encode("utf-8", "replace"), safe="")


def _utf16_order(value: str) -> bytes:
    """Sort key matching Java's ``String.compareTo`` and JavaScript's default sort."""
    return value.encode("utf-16-be", "surrogatepass")


# ---------------------------------------------------------------------- signing
def encode_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """Sign ``claims`` with HS256 (header ``{"alg": "HS256", "typ": "JWT"}``)."""
    if not secret:
        raise ConfigError("cannot sign a JWT: the shared secret is empty")
    return pyjwt.encode(dict(claims), secret, algorithm=HS256)


def sign_request(
    method: str,
    url: str,
    *,
    issuer: str,
    secret: str,
    base_url: str = "",
    ttl: int = 180,
    now: float | None = None,
) -> str:
    """A token for exactly this request: ``iss``, ``iat``, ``exp`` = iat + ttl and its ``qsh``."""
    if not issuer:
        raise ConfigError("cannot sign a JWT: the issuer (app key) is empty")
    if ttl <= 0:
        raise ConfigError(f"cannot sign a JWT: ttl must be positive, got {ttl}")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "iat": issued,
        "exp": issued + int(ttl),
        "qsh": query_string_hash(method, url, base_url),
    }
    return encode_hs256(claims, secret)


# ---------------------------------------------------------------------- extraction
def extract_token(headers: Mapping[str, str], query: Mapping[str, Any]) -> str:
    """The JWT of an incoming request, from ``Authorization: JWT <token>`` or ``?jwt=<token>``.

    ``headers`` is a mapping (werkzeug ``Headers``/``EnvironHeaders`` or a dict, matched
    case-insensitively); ``query`` maps names to lists of values or is MultiDict-like. Raises
    :class:`AuthError` when the token is missing, given twice, or given in both places.
    """
    header_values = _all_values(headers, "authorization", case_insensitive=True)
    from_header: list[str] = []
    other_scheme = ""
    for raw in header_values:
        scheme, _, rest = raw.strip().partition(" ")
        if scheme.lower() == "jwt":
            from_header.append(rest.strip())
        else:
            other_scheme = scheme
    from_query = _all_values(query, JWT_QUERY_PARAM)
    if len(from_header) > 1:
        raise AuthError("more than one 'Authorization: JWT' header")
    if len(from_query) > 1:
        raise AuthError("the jwt query parameter is given more than once")
    if from_header and from_query:
        raise AuthError("a JWT is given both in the Authorization header and in the jwt query parameter")
    if from_header:
        token = from_header[0]
    elif from_query:
        token = from_query[0].strip()
    elif other_scheme:
        raise AuthError(f"the Authorization header uses the {_show(other_scheme)} scheme, not JWT")
    else:
        raise AuthError("no JWT: expected an 'Authorization: JWT <token>' header or a jwt query parameter")
    if not token:
        raise AuthError("the JWT is empty")
    if any(ch.isspace() or ch == "," for ch in token):
        raise AuthError("the JWT contains spaces or commas (was the header sent more than once?)")
    return token


def _all_values(mapping: Mapping[str, Any], name: str, *, case_insensitive: bool = False) -> list[str]:
    getlist = getattr(mapping, "getlist", None)
    if callable(getlist):
        return [str(v) for v in getlist(name)]
    found: list[str] = []
    for key, value in mapping.items():
        if key == name or (case_insensitive and key.lower() == name):
            found.extend([value] if isinstance(value, str) else [str(v) for v in value])
    return found


# ---------------------------------------------------------------------- verification
def verify_hs256(
    token: str,
    *,
    lookup_secret: Callable[[str], str | None],
    method: str,
    url: str,
    base_url: str = "",
    allow_context_qsh: bool = False,
    leeway: float = 60,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify a Connect request token from Jira and return its claims.

    In ACE's order: decode unverified -> ``alg`` is exactly HS256 -> ``iss`` present ->
    ``lookup_secret(iss)`` (None: unknown issuer) -> signature -> ``exp``/``iat``/``nbf`` with
    ``leeway`` -> ``qsh`` matches this request (or is ``context-qsh`` when ``allow_context_qsh``).
    Every failure raises :class:`AuthError` with the reason; errors from ``lookup_secret`` itself
    (storage down) propagate unchanged.
    """
    header, unverified = _decode_unverified(token)
    _require_alg(header, HS256)
    issuer = unverified.get("iss")
    if issuer is None or issuer == "":
        raise AuthError("JWT has no iss claim")
    if not isinstance(issuer, str):
        raise AuthError("JWT iss claim is not a string")
    secret = lookup_secret(issuer)
    if secret is None:
        raise AuthError(f"unknown issuer {_show(issuer)}: no installed site has this clientKey")
    if not secret:
        raise AuthError(f"issuer {_show(issuer)} has no shared secret stored")
    claims = _verify_signature(token, secret, HS256, f"the shared secret of issuer {_show(issuer)}")
    _check_times(claims, leeway, now)
    _check_qsh(claims, method, url, base_url, allow_context_qsh=allow_context_qsh)
    return claims


def verify_install_rs256(
    token: str,
    *,
    fetch_key: Callable[[str], str],
    audience: str,
    client_key: str,
    method: str,
    url: str,
    base_url: str = "",
    leeway: float = 60,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify a signed install/uninstall callback token and return its claims.

    ``alg`` must be RS256 (no downgrade to HS256), the ``kid`` header must be a safe key id, the
    public key comes from ``fetch_key(kid)``, ``aud`` must be ``audience`` (our base URL; one
    trailing '/' ignored), ``iss`` must be the payload's ``clientKey``, time claims are checked with
    ``leeway`` and ``qsh`` must match the request (``context-qsh`` is never accepted here).
    """
    header, _ = _decode_unverified(token)
    _require_alg(header, RS256)
    kid = header.get("kid")
    if kid is None or kid == "":
        raise AuthError("install JWT has no kid header")
    check_kid(kid)
    try:
        pem = fetch_key(kid)
    except AuthError:
        raise
    except Exception as exc:
        raise AuthError(f"could not get install key {kid!r}: {type(exc).__name__}") from exc
    claims = _verify_signature(token, pem, RS256, f"install key {kid!r}")
    _check_audience(claims, audience)
    if not client_key:
        raise AuthError("the install payload has no clientKey to compare with the JWT iss")
    if claims.get("iss") != client_key:
        raise AuthError(
            f"install JWT iss {_show(claims.get('iss'))} is not the payload clientKey {_show(client_key)}"
        )
    _check_times(claims, leeway, now)
    _check_qsh(claims, method, url, base_url, allow_context_qsh=False)
    return claims


def is_valid_kid(kid: object) -> bool:
    """True if ``kid`` is safe to put in a key URL: 1-128 of ``A-Za-z0-9._-``, no '..'."""
    return isinstance(kid, str) and bool(_KID_RE.fullmatch(kid)) and ".." not in kid


def check_kid(kid: object) -> str:
    """Return ``kid`` if :func:`is_valid_kid`, else raise :class:`AuthError`."""
    if not is_valid_kid(kid):
        raise AuthError(f"install JWT kid {_show(kid)} is not a valid key id")
    return kid  # type: ignore[return-value]


def _decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(token, str) or not token:
        raise AuthError("the JWT is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError(f"the JWT is longer than {MAX_TOKEN_CHARS} characters")
    try:
        decoded = pyjwt.decode_complete(token, options={"verify_signature": False})
    except pyjwt.PyJWTError as exc:
        raise AuthError(f"malformed JWT: {_show_exc(exc)}") from exc
    return decoded["header"], decoded["payload"]


def _require_alg(header: Mapping[str, Any], expected: str) -> None:
    alg = header.get("alg")
    if alg != expected:
        raise AuthError(f"JWT algorithm {_show(alg)} is not allowed here; expected {expected}")


def _verify_signature(token: str, key: str, alg: str, key_name: str) -> dict[str, Any]:
    try:
        return pyjwt.decode(token, key, algorithms=[alg], options=_SIGNATURE_ONLY)  # type: ignore[arg-type]
    except pyjwt.InvalidSignatureError:
        raise AuthError(f"JWT signature does not verify with {key_name}") from None
    except (pyjwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise AuthError(f"{key_name} cannot verify an {alg} signature: {_show_exc(exc)}") from None
    except pyjwt.PyJWTError as exc:
        raise AuthError(f"JWT rejected: {_show_exc(exc)}") from exc


def _check_times(claims: Mapping[str, Any], leeway: float, now: float | None) -> None:
    current = time.time() if now is None else now
    exp = claims.get("exp")
    if exp is None:
        raise AuthError("JWT has no exp claim")
    if not _is_number(exp):
        raise AuthError("JWT exp claim is not a number")
    if exp + leeway <= current:
        raise AuthError(f"JWT expired {int(current - exp)} s ago (exp {int(exp)}, leeway {leeway:g} s)")
    for name, meaning in (("iat", "was issued in the future"), ("nbf", "is not valid yet")):
        value = claims.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise AuthError(f"JWT {name} claim is not a number")
        if value > current + leeway:
            raise AuthError(
                f"JWT {meaning}: {name} is {int(value - current)} s ahead (leeway {leeway:g} s)"
            )


def _check_qsh(
    claims: Mapping[str, Any], method: str, url: str, base_url: str, *, allow_context_qsh: bool
) -> None:
    qsh = claims.get("qsh")
    if qsh is None:
        raise AuthError("JWT has no qsh claim")
    if not isinstance(qsh, str):
        raise AuthError("JWT qsh claim is not a string")
    if qsh == CONTEXT_QSH:
        if allow_context_qsh:
            return
        raise AuthError("JWT qsh is 'context-qsh', which is not accepted for this request")
    parts = _canonical_parts(method, url, base_url)
    expected = hashlib.sha256("&".join(parts).encode("utf-8")).hexdigest()
    if not hmac.compare_digest(qsh.encode("utf-8", "replace"), expected.encode("ascii")):
        raise AuthError(f"JWT qsh does not match the request {parts[0]} {_show(parts[1], 200)}")


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    if aud is None:
        raise AuthError("install JWT has no aud claim")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if values is None or not all(isinstance(v, str) for v in values):
        raise AuthError("install JWT aud claim is neither a string nor a list of strings")
    wanted = _strip_one_slash(audience)
    if not any(_strip_one_slash(v) == wanted for v in values):
        raise AuthError(f"install JWT aud {_show(aud)} is not this app's base URL {audience!r}")


def _strip_one_slash(value: str) -> str:
    return value[:-1] if value.endswith("/") else value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: object, limit: int = 80) -> str:
    """A log-safe rendering of an untrusted value: repr (escapes control characters), truncated."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show_exc(exc: BaseException) -> str:
    return _show(str(exc), 160).strip("'\"")
