"""The daily budget: a hard limit on what a site's model calls may cost in one UTC day.

Before a call, :meth:`BudgetGuard.reserve` adds the call's worst-case cost to the day's counter
``budget:{site}:{day}`` with the store's atomic ``incr_if_within``: either the whole reservation fits
under the limit or nothing is added and the call is refused. After the call, :meth:`settle` adjusts
the counter to the real cost (usually giving money back); when the call fails, :meth:`release` gives
it all back. Because every call's reservation is an upper bound of its cost, the counter never
passes the limit, however many threads, processes or hosts share the store.

The counter therefore reads "settled spend plus in-flight reservations": it is the amount that is
committed, which is what the limit must bound.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from urllib.parse import quote

from ..errors import BadRequestError, BudgetExceededError
from ..storage.base import KeyValueStore
from ..storage.ledger import CostLedger, check_day

log = logging.getLogger(__name__)

RESERVATION_TTL_SECONDS = 3 * 86_400
REFUSAL_REASON = "budget_exceeded"
#: Tokens the chat format adds around each message, and once to prime the reply.
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
SCHEMA_FRAMING_TOKENS = 50


def worst_case_prompt_tokens(messages: list[dict], json_schema: dict | None = None) -> int:
    """An upper bound of the prompt tokens ``messages`` (and a structured-output schema) will use.

    Byte-level BPE tokenizers never produce more tokens than the text has UTF-8 bytes, so the byte
    count bounds the token count for any language, unlike a characters/4 rule of thumb (which
    under-counts CJK text or random identifiers). The strict schema of structured output is sent
    to the model too, so it counts.
    """
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS
        for key in ("role", "name", "content"):
            value = message.get(key) if isinstance(message, dict) else None
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            total += len(text.encode("utf-8"))
    if json_schema:
        total += SCHEMA_FRAMING_TOKENS + len(json.dumps(json_schema, ensure_ascii=False).encode("utf-8"))
    return total


def format_usd(micros: int) -> str:
    """Micro-dollars for people: ``$12.50``, or four decimals under a dollar (``$0.0435``)."""
    usd = micros / 1_000_000
    return f"${usd:,.2f}" if abs(usd) >= 1 else f"${usd:.4f}"


def usd_to_micros(usd: float) -> int:
    """A USD amount as whole micro-dollars, rounded down (a limit is never raised by rounding)."""
    return int((Decimal(str(usd)) * 1_000_000).to_integral_value(rounding=ROUND_FLOOR))


@dataclass
class Reservation:
    """Money set aside for one call. Settle or release it exactly once."""

    tenant_id: str
    day: str
    micros: int
    limit_micros: int
    intent: str = ""
    committed: int = 0  # the day's committed amount right after this reservation
    closed: bool = False


class BudgetGuard:
    """Reserves, settles and releases a site's daily spend in the shared store."""

    def __init__(self, store: KeyValueStore, ledger: CostLedger) -> None:
        """``store`` is shared by every process (the durable store); refusals are counted in ``ledger``."""
        self._store = store
        self._ledger = ledger

    @staticmethod
    def key(tenant_id: str, day: str) -> str:
        """The counter holding ``tenant_id``'s committed spend on ``day``."""
        return f"budget:{quote(tenant_id, safe='')}:{check_day(day)}"

    def reserve(self, tenant_id: str, micros: int, limit_micros: int, *, intent: str = "") -> Reservation:
        """Set aside ``micros`` if the day's committed spend stays within ``limit_micros``.

        Raises :class:`BudgetExceededError` (code ``budget_exceeded``) and counts the refusal in the
        ledger when it would not.
        """
        _whole(micros, "a reservation")
        _whole(limit_micros, "a budget limit")
        day = self._ledger.today()
        applied, value = self._store.incr_if_within(
            self.key(tenant_id, day), micros, limit_micros, ttl=RESERVATION_TTL_SECONDS
        )
        if not applied:
            self._ledger.record_refusal(
                tenant_id=tenant_id, intent=intent or "unknown", reason=REFUSAL_REASON, day=day
            )
            raise BudgetExceededError(
                f"this site's daily AI budget of {format_usd(limit_micros)} would be exceeded: "
                f"{format_usd(value)} is committed today and this call may cost up to {format_usd(micros)}",
                code=REFUSAL_REASON,
            )
        return Reservation(tenant_id, day, micros, limit_micros, intent=intent, committed=value)

    def settle(self, reservation: Reservation, actual_micros: int) -> int:
        """Replace the reservation by the call's real cost; returns the day's committed spend."""
        _whole(actual_micros, "a call's cost")
        key = self.key(reservation.tenant_id, reservation.day)
        if reservation.closed:
            log.warning("budget reservation settled twice site=%s; ignored", reservation.tenant_id)
            return int(self._store.get(key) or 0)
        reservation.closed = True
        if actual_micros > reservation.micros:
            # Cannot happen while reservations are true upper bounds; the money is spent, so count it.
            log.warning(
                "call cost more than its reservation site=%s reserved=%d actual=%d",
                reservation.tenant_id, reservation.micros, actual_micros,
            )
        delta = actual_micros - reservation.micros
        if delta == 0:
            return int(self._store.get(key) or 0)
        return self._store.incr(key, delta, ttl=RESERVATION_TTL_SECONDS)

    def release(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the call failed and cost nothing)."""
        if reservation.closed:
            return
        reservation.closed = True
        if reservation.micros:
            self._store.incr(
                self.key(reservation.tenant_id, reservation.day), -reservation.micros,
                ttl=RESERVATION_TTL_SECONDS,
            )

    def spent_today(self, tenant_id: str) -> int:
        """Today's committed spend of ``tenant_id`` in micro-dollars (settled plus in flight)."""
        return self.spent_on(tenant_id, self._ledger.today())

    def spent_on(self, tenant_id: str, day: str) -> int:
        """The committed spend of ``tenant_id`` on ``day`` (kept about three days)."""
        return int(self._store.get(self.key(tenant_id, day)) or 0)


def _whole(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequestError(f"{what} must be a whole number of micro-dollars, zero or more; got {value!r}")
