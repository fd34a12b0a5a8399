"""Forge's delivery of trigger events and scheduled triggers to a remote: POSTed on background threads
with a fresh Forge Invocation Token per attempt (``Authorization: Bearer``) and the installation's system
token (``x-forge-oauth-system``), a 5 second timeout, and redelivery on timeouts, connection errors,
408/409/425/429 and 5xx (up to 4 retries, backing off exponentially), as Forge Remote documents.

The queue, retries, pause/resume and the delivery log are the webhook dispatcher's; this adds the Forge
signing, *held* deliveries (recorded, not sent, so a test can send them by hand) and :meth:`send_once`,
one synchronous attempt with tampered credentials for negative tests.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from ...errors import NotFoundError
from .webhooks import Attempt, Delivery, WebhookDispatcher

USER_AGENT = "Atlassian Forge (jira-sim)"


@dataclass(frozen=True)
class Target:
    """Which installation and module a delivery is for (the FIT is built from these on each attempt)."""

    installation_id: str
    module_type: str
    module_key: str
    endpoint_key: str


# prepare(target, tamper) -> request headers (Authorization, x-forge-oauth-system...), or None when the
# installation can no longer receive calls.
Prepare = Callable[[Target, Mapping[str, Any]], "dict[str, str] | None"]


class ForgeDispatcher(WebhookDispatcher):
    """Deliveries to Forge remote endpoints; ``app_key`` of each delivery is the installation id."""

    def __init__(self, prepare: Prepare, *, timeout: float = 5.0, max_retries: int = 4,
                 retry_base_delay: float = 5.0, workers: int = 4) -> None:
        super().__init__(lambda _key: None, timeout=timeout, max_retries=max_retries,
                         retry_base_delay=retry_base_delay, workers=workers)
        self._prepare = prepare
        self._targets: dict[str, Target] = {}
        self._holding = False

    # -- queueing ------------------------------------------------------------------------------
    def submit_to(self, target: Target, event: str, url: str, payload: dict[str, Any]) -> Delivery:
        """Queue a delivery (or record it as ``held`` while :meth:`hold` is on)."""
        delivery = Delivery(str(uuid.uuid4()), event, target.installation_id, url, payload)
        with self._cond:
            self._deliveries[delivery.identifier] = delivery
            self._targets[delivery.identifier] = target
            if self._holding:
                delivery.state = "held"
            else:
                self._push(delivery.identifier, 0, time.monotonic())
            if len(self._deliveries) > self._keep * 1.1:
                self._prune()
        return delivery

    def hold(self, on: bool = True) -> None:
        """While on, new deliveries are recorded as ``held`` and not sent (see :meth:`send_once`,
        :meth:`redeliver`).
        """
        with self._cond:
            self._holding = on

    def _prune(self) -> None:
        super()._prune()
        self._targets = {k: v for k, v in self._targets.items() if k in self._deliveries}

    def target(self, identifier: str) -> Target:
        """The target of a recorded delivery, or :class:`NotFoundError`."""
        with self._cond:
            found = self._targets.get(identifier)
        if found is None:
            raise NotFoundError(f"no Forge delivery with identifier {identifier!r}")
        return found

    # -- sending -------------------------------------------------------------------------------
    def send_once(self, identifier: str, tamper: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One synchronous attempt of a recorded delivery, with ``tamper`` applied; no retry follows.

        Returns the attempt (``status``, ``error``, ``response``...). A 2xx marks the delivery delivered.
        """
        with self._cond:
            delivery = self._deliveries.get(identifier)
            if delivery is None:
                raise NotFoundError(f"no Forge delivery with identifier {identifier!r}")
            delivery.replays += 1
        attempt = self._attempt(delivery, 0, dict(tamper or {}))
        with self._cond:
            delivery.attempts.append(attempt)
            if attempt.status is not None and 200 <= attempt.status < 300:
                delivery.state = "delivered"
            self._cond.notify_all()
        return vars(attempt).copy()

    def _send(self, delivery: Delivery, retry: int) -> Attempt:
        return self._attempt(delivery, retry, {})

    def _attempt(self, delivery: Delivery, retry: int, tamper: Mapping[str, Any]) -> Attempt:
        started, at = time.perf_counter(), time.time()
        target = self._targets.get(delivery.identifier)
        headers = self._prepare(target, tamper) if target is not None else None
        if headers is None:
            return Attempt(retry, delivery.replays, None, "not sent: the app is not installed", 0.0, at)
        headers = {**headers, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        body = delivery.payload or {}
        if tamper.get("envelope") == "payload":
            inner = {k: v for k, v in body.items() if k != "context"}
            body = {"payload": inner, "context": body.get("context")}
        if "body" in tamper:
            body = tamper["body"]
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        timeout = float(tamper.get("timeout", self.timeout))
        try:
            response = self._session().post(delivery.url, data=data, headers=headers, timeout=timeout,
                                            allow_redirects=False)
        except requests.Timeout:
            return Attempt(retry, delivery.replays, None, "timeout", _ms(started), at)
        except requests.RequestException as exc:
            return Attempt(retry, delivery.replays, None, f"connection error: {type(exc).__name__}",
                           _ms(started), at)
        return Attempt(retry, delivery.replays, response.status_code, None, _ms(started), at,
                       response.text[:500])


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
