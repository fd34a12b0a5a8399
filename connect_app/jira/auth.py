"""``requests`` auth objects that sign every outbound Jira call, one per door.

Attach one to a ``requests.Session`` (``session.auth = ConnectJwtAuth(...)``) and hand the session
to the Jira client: no call can then go out unsigned. ``requests`` calls the auth object each time
it prepares a request, so a retry made by re-sending through the session (as atlassian-python-api's
own ``Retry-After`` loop does) carries a freshly signed token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
import requests.auth

from ..errors import AuthError, ConfigError
from ..platform.connect.jwt import sign_request

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ConnectJwtAuth(requests.auth.AuthBase):
    """Sign each request with a Connect HS256 JWT: ``Authorization: JWT <token>``.

    The token's ``qsh`` covers the request's method, path (relative to ``base_url``, the site's
    base URL, which may carry a path such as ``https://x.atlassian.net/jira``) and query, and it
    lives ``ttl`` seconds. Requests to another origin than ``base_url`` are not signed (a warning is
    logged), so a token never leaves the tenant's site.
    """

    def __init__(
        self,
        *,
        issuer: str,
        secret: str,
        base_url: str,
        ttl: int = 180,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer:
            raise ConfigError("ConnectJwtAuth needs the app key as issuer")
        if not secret:
            raise ConfigError("ConnectJwtAuth needs the site's shared secret")
        if ttl <= 0:
            raise ConfigError(f"ConnectJwtAuth ttl must be positive, got {ttl}")
        self._origin = _origin(base_url)
        if self._origin is None:
            raise ConfigError(f"ConnectJwtAuth base_url must be an absolute http(s) URL, got {base_url!r}")
        self.issuer = issuer
        self.base_url = base_url
        self.ttl = ttl
        self._secret = secret
        self._clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add a token for exactly this method and URL."""
        url = r.url or ""
        if _origin(url) != self._origin:
            log.warning("not signing a request to %s: not the site %s", _origin_text(url), self.base_url)
            return r
        token = sign_request(
            r.method or "GET",
            url,
            issuer=self.issuer,
            secret=self._secret,
            base_url=self.base_url,
            ttl=self.ttl,
            now=self._clock(),
        )
        r.headers["Authorization"] = f"JWT {token}"
        return r

    def __repr__(self) -> str:
        return (
            f"ConnectJwtAuth(issuer={self.issuer!r}, base_url={self.base_url!r}, ttl={self.ttl}, secret=***)"
        )


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` with a token fetched per request (Forge system tokens).

    ``token_provider`` is called on every send, so it can refresh an expiring token; it should
    cache the token itself.
    """

    def __init__(self, token_provider: Callable[[], str]) -> None:
        if not callable(token_provider):
            raise ConfigError("BearerAuth needs a callable that returns the token")
        self._token_provider = token_provider

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the current bearer token."""
        token = self._token_provider()
        if not token:
            raise AuthError("no bearer token available for the outbound request")
        r.headers["Authorization"] = f"Bearer {token}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _origin_text(url: str) -> str:
    origin = _origin(url)
    return "an invalid URL" if origin is None else f"{origin[0]}://{origin[1]}:{origin[2]}"
