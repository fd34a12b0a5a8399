"""Atlassian Connect as Jira hosts it: the install handshake, lifecycle callbacks and webhook routing.

``install`` fetches the app's descriptor, generates the installation's clientKey and sharedSecret,
creates the app's user (``accountType: app``) and POSTs the ``installed`` payload signed RS256 with
the site's install key (header ``kid``; claims ``iss`` = clientKey, ``aud`` = [app baseUrl], ``qsh``
of that request, ``sub`` = the installing admin, ``iat``/``exp``), as Connect's signed install does.
The public key is served as PEM at ``/connect-keys/<kid>``. ``enabled``/``disabled`` are signed HS256
with the shared secret. Keyword arguments of :meth:`ConnectHost.install` tamper with the request for
negative tests.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ...errors import BadRequestError, NotFoundError
from ...platform.connect.jwt import encode_hs256, query_string_hash
from .site import Site
from .webhooks import WebhookDispatcher

SERVER_VERSION = "100288"
PLUGINS_VERSION = "1001.0.0-SNAPSHOT"
LIFECYCLE_TOKEN_TTL = 180
SCOPE_ORDER = ("READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN")
_URL_VARIABLE_RE = re.compile(r"\{(issue\.id|issue\.key|project\.id|project\.key|comment\.id)\}")


class InstallKeys:
    """The site's RSA key pairs for signed installs, by ``kid``; the newest one signs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current_kid = self.rotate()

    def rotate(self) -> str:
        """Make a new key pair the signing key (older public keys stay served); returns its kid."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = str(uuid.uuid4())
        with self._lock:
            self._keys[kid] = key
            self.current_kid = kid
        return kid

    def public_pem(self, kid: str) -> str | None:
        """The PEM (SubjectPublicKeyInfo) public key for ``kid``, or None."""
        with self._lock:
            key = self._keys.get(kid)
        if key is None:
            return None
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def private_key(self, kid: str | None = None) -> rsa.RSAPrivateKey:
        """The private key for ``kid`` (default: the current one)."""
        with self._lock:
            return self._keys[kid or self.current_kid]


@dataclass
class Installation:
    """One app installed on the site."""

    app_key: str
    client_key: str
    shared_secret: str
    app_base_url: str
    app_account_id: str
    descriptor: dict[str, Any]
    scopes: frozenset[str]
    webhooks: list[dict[str, Any]]
    installed: bool = True
    enabled: bool = True
    installed_at: float = field(default_factory=time.time)

    def lifecycle_url(self, event: str) -> str | None:
        """The absolute URL of a lifecycle callback the descriptor declares, or None."""
        path = (self.descriptor.get("lifecycle") or {}).get(event)
        return join_url(self.app_base_url, path) if path else None

    def to_dict(self) -> dict[str, Any]:
        """A plain copy (the shared secret included: this is test tooling)."""
        return {"app_key": self.app_key, "client_key": self.client_key, "shared_secret": self.shared_secret,
                "app_base_url": self.app_base_url, "app_account_id": self.app_account_id,
                "scopes": sorted(self.scopes), "webhooks": copy.deepcopy(self.webhooks),
                "installed": self.installed, "enabled": self.enabled}


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` (absolute ``path`` URLs are kept)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        return path
    return base.rstrip("/") + "/" + path.lstrip("/")


def effective_scopes(declared: list[Any] | None) -> frozenset[str]:
    """Declared scopes plus the ones they imply (WRITE implies READ, ... ADMIN implies all)."""
    names = {str(s).upper() for s in (declared or ["READ"])}
    out = set(names)
    for index, scope in enumerate(SCOPE_ORDER):
        if scope in names:
            out.update(SCOPE_ORDER[: index + 1])
    return frozenset(out)


class ConnectHost:
    """Installations of Connect apps on the site, their lifecycle and their webhooks."""

    def __init__(self, site: Site, dispatcher: WebhookDispatcher, *, admin_account_id: str,
                 site_name: str = "sim", http_timeout: float = 10.0) -> None:
        self.site = site
        self.dispatcher = dispatcher
        self.keys = InstallKeys()
        self.admin_account_id = admin_account_id
        self.site_name = site_name
        self.http_timeout = http_timeout
        self.cloud_id = str(uuid.uuid4())
        self._lock = threading.RLock()
        self._installs: dict[str, Installation] = {}
        self._client_keys: dict[str, str] = {}
        self._app_users: dict[str, str] = {}
        self.lifecycle_log: list[dict[str, Any]] = []

    # -- queries -------------------------------------------------------------------------------
    def installation(self, app_key: str | None = None) -> Installation | None:
        """The installation of ``app_key`` (default: the only or latest one), installed or not."""
        with self._lock:
            if app_key is not None:
                return self._installs.get(app_key)
            return next(reversed(self._installs.values()), None)

    def _require(self, app_key: str | None) -> Installation:
        found = self.installation(app_key)
        if found is None:
            raise NotFoundError(f"no app {app_key!r} is installed" if app_key else "no app is installed")
        return found

    def secret_for(self, app_key: str) -> str | None:
        """The shared secret of an installed, enabled app (REST auth's ``lookup_secret``)."""
        with self._lock:
            inst = self._installs.get(app_key)
            return inst.shared_secret if inst and inst.installed and inst.enabled else None

    def credentials(self, app_key: str) -> tuple[str, str, str] | None:
        """(clientKey, sharedSecret, app base URL) for signing webhooks, if the app may receive them."""
        with self._lock:
            inst = self._installs.get(app_key)
            if inst is None or not (inst.installed and inst.enabled):
                return None
            return inst.client_key, inst.shared_secret, inst.app_base_url

    # -- install -------------------------------------------------------------------------------
    def install(self, app_base_url: str, *, sign_with: Any = None, kid: str | None = None,
                aud: Any = None, iss: str | None = None, qsh: str | None = None, base_url: str | None = None,
                client_key: str | None = None, algorithm: str = "RS256", unsigned: bool = False,
                expires_in: int = LIFECYCLE_TOKEN_TTL, send_enabled: bool = True) -> dict[str, Any]:
        """Install the app whose descriptor is at ``{app_base_url}/atlassian-connect.json``.

        Returns ``{"status", "response", "installed", "payload", "installation"}``. When the app
        answers 2xx the installation is active (Jira then sends ``enabled`` if the descriptor has
        that callback and ``send_enabled``); otherwise the previous state is restored.

        Tampering (negative tests): ``sign_with`` another RSA private key (object or PEM), ``kid``,
        ``aud``, ``iss``, ``qsh``, ``base_url`` (the payload's site URL), ``client_key`` (the payload's),
        ``algorithm="HS256"`` (signs with the shared secret: a downgrade), ``unsigned``, ``expires_in``.
        """
        descriptor = self._fetch_descriptor(app_base_url)
        app_key, app_base = descriptor["key"], descriptor["baseUrl"].rstrip("/")
        with self._lock:
            account_id = self._app_users.setdefault(app_key, f"557058:{uuid.uuid4()}")
            stable_client_key = self._client_keys.setdefault(app_key, str(uuid.uuid4()))
        # Outside our lock: the state lock is always taken first (REST -> webhook routing), never after.
        if account_id not in self.site.state.users:
            self.site.add_user(account_id, str(descriptor.get("name") or app_key), account_type="app")
        inst = Installation(
            app_key=app_key, client_key=stable_client_key, shared_secret=secrets.token_urlsafe(48),
            app_base_url=app_base, app_account_id=account_id, descriptor=descriptor,
            scopes=effective_scopes(descriptor.get("scopes")),
            webhooks=[dict(w) for w in (descriptor.get("modules") or {}).get("webhooks") or []
                      if isinstance(w, dict) and w.get("event") and w.get("url")],
        )
        with self._lock:
            previous = self._installs.get(app_key)
            self._installs[app_key] = inst  # live during the callback, as Jira's is
        payload = self.lifecycle_payload(inst, "installed")
        if base_url is not None:
            payload["baseUrl"] = payload["displayUrl"] = base_url
        if client_key is not None:
            payload["clientKey"] = client_key
        url = inst.lifecycle_url("installed")
        assert url is not None  # checked by _fetch_descriptor
        token = None if unsigned else self._install_token(
            inst, url, sign_with=sign_with, kid=kid, aud=aud, iss=iss, qsh=qsh, algorithm=algorithm,
            expires_in=expires_in)
        result = self._post(url, payload, token, "installed")
        ok = result["status"] is not None and 200 <= result["status"] < 300
        with self._lock:
            if not ok:
                if previous is None:
                    self._installs.pop(app_key, None)
                else:
                    self._installs[app_key] = previous
        result.update({"installed": ok, "installation": inst.to_dict() if ok else None})
        if ok and send_enabled and inst.lifecycle_url("enabled"):
            self.enable(app_key)
        return result

    def uninstall(self, app_key: str | None = None, *, sign_with: Any = None, kid: str | None = None,
                  aud: Any = None, algorithm: str = "RS256") -> dict[str, Any]:
        """Uninstall: ``disabled`` first (if declared and enabled), then the RS256-signed ``uninstalled``."""
        inst = self._require(app_key)
        if inst.enabled and inst.lifecycle_url("disabled"):
            self.disable(inst.app_key)
        url = inst.lifecycle_url("uninstalled")
        result: dict[str, Any] = {"status": None, "response": "", "payload": None}
        if url:
            token = self._install_token(inst, url, sign_with=sign_with, kid=kid, aud=aud, iss=None, qsh=None,
                                        algorithm=algorithm, expires_in=LIFECYCLE_TOKEN_TTL)
            result = self._post(url, self.lifecycle_payload(inst, "uninstalled"), token, "uninstalled")
        with self._lock:
            inst.installed = False
            inst.enabled = False
        return result

    def enable(self, app_key: str | None = None) -> dict[str, Any]:
        """Enable the app and send ``enabled`` (HS256, shared secret) if declared."""
        return self._toggle(app_key, True)

    def disable(self, app_key: str | None = None) -> dict[str, Any]:
        """Send ``disabled`` (HS256, shared secret) if declared, then disable the app."""
        return self._toggle(app_key, False)

    def _toggle(self, app_key: str | None, enabled: bool) -> dict[str, Any]:
        inst = self._require(app_key)
        if not inst.installed:
            raise BadRequestError(f"app {inst.app_key!r} is not installed")
        event = "enabled" if enabled else "disabled"
        if enabled:
            with self._lock:
                inst.enabled = True
        url = inst.lifecycle_url(event)
        result: dict[str, Any] = {"status": None, "response": "", "payload": None}
        if url:
            now = int(time.time())
            token = encode_hs256({"iss": inst.client_key, "iat": now, "exp": now + LIFECYCLE_TOKEN_TTL,
                                  "qsh": query_string_hash("POST", url, inst.app_base_url),
                                  "sub": self.admin_account_id, "context": {}}, inst.shared_secret)
            result = self._post(url, self.lifecycle_payload(inst, event), token, event)
        if not enabled:
            with self._lock:
                inst.enabled = False
        return result

    def lifecycle_payload(self, inst: Installation, event: str) -> dict[str, Any]:
        """The lifecycle body Jira sends (``publicKey`` is deprecated and left out)."""
        base = self.site.base
        return {
            "key": inst.app_key,
            "clientKey": inst.client_key,
            "sharedSecret": inst.shared_secret,
            "serverVersion": SERVER_VERSION,
            "pluginsVersion": PLUGINS_VERSION,
            "baseUrl": base,
            "displayUrl": base,
            "productType": "jira",
            "description": f"Atlassian JIRA at {base} ({self.site_name})",
            "eventType": event,
            "cloudId": self.cloud_id,
        }

    def _install_token(self, inst: Installation, url: str, *, sign_with: Any, kid: str | None, aud: Any,
                       iss: str | None, qsh: str | None, algorithm: str, expires_in: int) -> str:
        now = int(time.time())
        claims = {
            "iss": iss if iss is not None else inst.client_key,
            "sub": self.admin_account_id,
            "aud": aud if aud is not None else [inst.app_base_url],
            "qsh": qsh if qsh is not None else query_string_hash("POST", url, inst.app_base_url),
            "iat": now,
            "exp": now + expires_in,
            "context": {},
        }
        if algorithm == "HS256":
            return encode_hs256(claims, inst.shared_secret)
        if algorithm != "RS256":
            raise BadRequestError("algorithm must be RS256 or HS256")
        key = self.keys.private_key() if sign_with is None else _load_private_key(sign_with)
        return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kid or self.keys.current_kid})

    def _post(self, url: str, payload: dict[str, Any], token: str | None, event: str) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "User-Agent": "Atlassian Connect (jira-sim)"}
        if token:
            headers["Authorization"] = f"JWT {token}"
        entry: dict[str, Any] = {"event": event, "url": url, "payload": payload, "status": None,
                                 "response": "", "error": None, "at": time.time()}
        try:
            response = requests.post(url, json=payload, headers=headers, timeout=self.http_timeout,
                                     allow_redirects=False)
            entry["status"], entry["response"] = response.status_code, response.text[:2000]
        except requests.RequestException as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.lifecycle_log.append(entry)
        return {"status": entry["status"], "response": entry["response"], "error": entry["error"],
                "payload": payload}

    def _fetch_descriptor(self, app_base_url: str) -> dict[str, Any]:
        url = app_base_url
        if not url.endswith(".json"):
            url = join_url(app_base_url, "atlassian-connect.json")
        try:
            response = requests.get(url, timeout=self.http_timeout)
        except requests.RequestException as exc:
            raise BadRequestError(f"could not fetch the app descriptor {url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise BadRequestError(f"the app descriptor {url} answered HTTP {response.status_code}")
        try:
            descriptor = response.json()
        except ValueError as exc:
            raise BadRequestError(f"the app descriptor {url} is not JSON") from exc
        if not isinstance(descriptor, dict):
            raise BadRequestError("the app descriptor is not a JSON object")
        for name in ("key", "baseUrl"):
            if not isinstance(descriptor.get(name), str) or not descriptor[name]:
                raise BadRequestError(f"the app descriptor has no {name}")
        if (descriptor.get("authentication") or {}).get("type", "").lower() != "jwt":
            raise BadRequestError("the simulator installs only apps with authentication type jwt")
        if not (descriptor.get("lifecycle") or {}).get("installed"):
            raise BadRequestError("the app descriptor has no lifecycle.installed callback")
        return descriptor

    # -- webhooks ------------------------------------------------------------------------------
    def on_event(self, event: str, build: Callable[[], tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Queue ``event`` for every enabled app with a webhook module for it (``build`` makes the body)."""
        with self._lock:
            targets = [(inst, hook) for inst in self._installs.values() if inst.installed and inst.enabled
                       for hook in inst.webhooks if hook.get("event") == event]
        if not targets:
            return
        payload, context = build()
        for inst, hook in targets:
            body: dict[str, Any] | None = payload
            keys = hook.get("propertyKeys") or []
            if keys and "issue" in payload:
                body = copy.deepcopy(payload)
                props = context.get("issue_properties") or {}
                body["issue"]["properties"] = [{"key": k, "value": props[k]} for k in keys if k in props]
            if hook.get("excludeBody"):
                body = None
            url = join_url(inst.app_base_url, _substitute(str(hook["url"]), context))
            self.dispatcher.submit(inst.app_key, event, url, body)


def _substitute(url: str, context: dict[str, Any]) -> str:
    """Fill Connect webhook URL variables such as ``{issue.key}`` (URL-encoded)."""
    return _URL_VARIABLE_RE.sub(lambda m: quote(str(context.get(m.group(1), "")), safe=""), url)


def _load_private_key(value: Any) -> Any:
    if isinstance(value, str | bytes):
        data = value.encode("ascii") if isinstance(value, str) else value
        return serialization.load_pem_private_key(data, password=None)
    return value
