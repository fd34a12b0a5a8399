"""What each model costs, and the cost of one call in integer micro-dollars.

Prices are USD per million tokens, held as :class:`~decimal.Decimal` so no float rounding creeps
in. A handy identity follows: ``tokens × (USD per million tokens)`` *is* a number of micro-dollars,
so a call's cost is a plain Decimal sum, rounded up once at the end (we never under-count).

Defaults ship with the package (``default_prices.json``). ``PRICE_TABLE_FILE`` names a JSON file of
the same shape that adds or overrides models and maps names (Azure deployment names, dated
snapshots) to priced models::

    {"models": {"my-model": {"input": "0.40", "cached_input": "0.10", "output": "1.60"}},
     "aliases": {"prod-gpt4o-mini": "gpt-4o-mini"}}
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import BadRequestError, ConfigError
from ..models import Usage
from ..settings import Settings

DEFAULT_PRICES_RESOURCE = "default_prices.json"
KINDS = ("chat", "embedding")
MAX_PRICE_PER_M = Decimal(10_000)
_DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ModelPrice:
    """A model's rates in USD per million tokens. ``kind`` is ``chat`` or ``embedding``."""

    input_per_m: Decimal
    cached_input_per_m: Decimal
    output_per_m: Decimal
    kind: str = "chat"

    def exact_micros(self, *, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> Decimal:
        """The unrounded cost in micro-dollars; ``cached_tokens`` are part of ``prompt_tokens``."""
        prompt = max(int(prompt_tokens), 0)
        cached = min(max(int(cached_tokens), 0), prompt)
        completion = max(int(completion_tokens), 0)
        return (
            (prompt - cached) * self.input_per_m
            + cached * self.cached_input_per_m
            + completion * self.output_per_m
        )

    def to_dict(self) -> dict[str, str]:
        """JSON-ready rates (strings keep the exact decimal)."""
        return {
            "input": str(self.input_per_m),
            "cached_input": str(self.cached_input_per_m),
            "output": str(self.output_per_m),
            "kind": self.kind,
        }


def round_up(micros: Decimal) -> int:
    """Decimal micro-dollars to an integer, rounding any fraction up."""
    return int(micros.to_integral_value(rounding=ROUND_CEILING))


class PriceTable:
    """Prices per model plus aliases; every lookup is case-insensitive."""

    def __init__(
        self, prices: Mapping[str, ModelPrice], aliases: Mapping[str, str] | None = None, *, source: str = ""
    ) -> None:
        """Build from already-validated prices; use :meth:`load` to read the defaults and a file."""
        self._prices = {_norm(name): price for name, price in prices.items()}
        self._aliases = {_norm(alias): _norm(target) for alias, target in (aliases or {}).items()}
        for alias, target in self._aliases.items():
            if target not in self._prices:
                raise ConfigError(f"price alias {alias!r} points to {target!r}, which is not priced")
        self.source = source

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, settings: Settings) -> PriceTable:
        """The packaged defaults, with ``PRICE_TABLE_FILE`` merged over them when it is set.

        Raises :class:`ConfigError` naming the file and the problem when it cannot be used.
        """
        defaults = _default_data()
        prices = _parse_models(defaults.get("models", {}), origin=DEFAULT_PRICES_RESOURCE)
        aliases = _parse_aliases(defaults.get("aliases", {}), origin=DEFAULT_PRICES_RESOURCE)
        source = str(defaults.get("_source", ""))
        if settings.price_table_file is not None:
            data = _read_file(Path(settings.price_table_file))
            origin = f"PRICE_TABLE_FILE {settings.price_table_file}"
            prices.update(_parse_models(data.get("models", {}), origin=origin))
            aliases.update(_parse_aliases(data.get("aliases", {}), origin=origin))
            if data.get("_source"):
                source = f"{source} Overrides: {data['_source']}".strip()
            for alias, target in aliases.items():
                if target not in prices:
                    raise ConfigError(
                        f"{origin}: alias {alias!r} points to {target!r}, which is not priced; "
                        "add it under \"models\" or point the alias at a priced model"
                    )
        return cls(prices, aliases, source=source)

    # ------------------------------------------------------------------ lookups
    def resolve(self, model: str) -> str:
        """The priced model name behind ``model`` (itself, an alias target, or its undated name)."""
        name = _norm(model)
        for candidate in (name, _DATED_SUFFIX.sub("", name)):
            if candidate in self._aliases:
                return self._aliases[candidate]
            if candidate in self._prices:
                return candidate
        raise ConfigError(
            f"model {model!r} is not priced: add it to the JSON file named by PRICE_TABLE_FILE "
            f'("models": {{"{model}": {{"input": ..., "cached_input": ..., "output": ...}}}}, USD per 1M '
            f'tokens) or, for an Azure deployment, map it to a priced model ("aliases": {{"{model}": '
            '"gpt-4o-mini"}})'
        )

    def is_priced(self, model: str | None) -> bool:
        """True when ``model`` resolves to a price."""
        if not model:
            return False
        try:
            self.resolve(model)
        except ConfigError:
            return False
        return True

    def price(self, model: str) -> ModelPrice:
        """The rates of ``model``; :class:`ConfigError` saying how to price it when unknown."""
        return self._prices[self.resolve(model)]

    def cost_micros(self, model: str, usage: Usage) -> int:
        """What a call with ``usage`` cost, cached prompt tokens at their own rate, rounded up."""
        exact = self.price(model).exact_micros(
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        return round_up(exact)

    def estimate_micros(self, model: str, prompt_tokens: int, max_tokens: int) -> int:
        """The worst case of a call: every prompt token uncached and ``max_tokens`` of output."""
        if prompt_tokens < 0 or max_tokens < 0:
            raise BadRequestError("token counts for a cost estimate must be zero or more")
        price = self.price(model)
        return round_up(prompt_tokens * price.input_per_m + max_tokens * price.output_per_m)

    def models(self) -> list[str]:
        """Every name that can be priced: the models and the aliases, sorted."""
        return sorted(set(self._prices) | set(self._aliases))

    def chat_models(self) -> list[str]:
        """Names (models and aliases) usable as chat models, sorted."""
        return [name for name in self.models() if self.price(name).kind == "chat"]

    def as_dict(self) -> dict[str, Any]:
        """The whole table for display: ``{"models": {...}, "aliases": {...}, "source": ...}``."""
        return {
            "models": {name: price.to_dict() for name, price in sorted(self._prices.items())},
            "aliases": dict(sorted(self._aliases.items())),
            "source": self.source,
        }

    # ------------------------------------------------------------------ start-up check
    def validate_models(self, settings: Settings, *, embedding_model: str | None = None) -> None:
        """Refuse to start with an unpriced model (:class:`ConfigError` naming each variable).

        Checks the chat models and, when the provider embeds for the semantic cache,
        ``embedding_model`` (the model it will call: ``EMBEDDING_MODEL`` or its default).
        """
        problems: list[str] = []
        checks = [
            ("OPENAI_PRIMARY_MODEL", settings.openai_primary_model, "chat"),
            ("OPENAI_CLASSIFIER_MODEL", settings.openai_classifier_model, "chat"),
        ]
        if embedding_model:
            variable = "EMBEDDING_MODEL" if settings.embedding_model else "EMBEDDING_MODEL (its default)"
            checks.append((variable, embedding_model, "embedding"))
        for variable, model, wanted in checks:
            if not model:
                continue
            try:
                kind = self.price(model).kind
            except ConfigError as exc:
                problems.append(f"{variable}: {exc.message}")
                continue
            if kind != wanted:
                problems.append(f"{variable}: {model!r} is {_article(kind)} {kind} model, "
                                f"not {_article(wanted)} {wanted} model")
        if problems:
            raise ConfigError("; ".join(problems))


# ---------------------------------------------------------------------- parsing
def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _norm(name: str) -> str:
    return str(name).strip().lower()


@functools.cache
def _default_data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(DEFAULT_PRICES_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def _read_file(path: Path) -> dict[str, Any]:
    origin = f"PRICE_TABLE_FILE {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{origin} cannot be read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'{origin} must hold a JSON object with "models" and/or "aliases"')
    unknown = sorted(k for k in data if k not in ("models", "aliases") and not str(k).startswith("_"))
    if unknown:
        raise ConfigError(f'{origin}: unknown key(s) {", ".join(unknown)} (expected "models", "aliases")')
    return data


def _parse_models(raw: Any, *, origin: str) -> dict[str, ModelPrice]:
    if not isinstance(raw, dict):
        raise ConfigError(f'{origin}: "models" must be an object of model name to prices')
    out: dict[str, ModelPrice] = {}
    for name, entry in raw.items():
        where = f"{origin}: model {name!r}"
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{origin}: model names must be non-empty strings")
        if not isinstance(entry, dict):
            raise ConfigError(f'{where} must be an object like {{"input": 0.15, "output": 0.6}}')
        unknown = sorted(set(entry) - {"input", "cached_input", "output", "kind"})
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
        for required in ("input", "output"):
            if required not in entry:
                raise ConfigError(f"{where} needs {required!r} (USD per 1M tokens)")
        kind = entry.get("kind", "chat")
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}")
        input_price = _decimal(entry["input"], f"{where} input")
        cached = entry.get("cached_input")
        out[_norm(name)] = ModelPrice(
            input_per_m=input_price,
            # Without a cached rate, cached tokens are charged in full: never under-count.
            cached_input_per_m=input_price if cached is None else _decimal(cached, f"{where} cached_input"),
            output_per_m=_decimal(entry["output"], f"{where} output"),
            kind=kind,
        )
    return out


def _parse_aliases(raw: Any, *, origin: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in raw.items()
    ):
        raise ConfigError(f'{origin}: "aliases" must map names to priced model names, e.g. '
                          '{"my-deployment": "gpt-4o-mini"}')
    return {_norm(k): _norm(v) for k, v in raw.items()}


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where} must be a number (USD per 1M tokens)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{where} must be a number (USD per 1M tokens), got {value!r}") from None
    if not number.is_finite() or number < 0 or number > MAX_PRICE_PER_M:
        raise ConfigError(f"{where} must be between 0 and {MAX_PRICE_PER_M} USD per 1M tokens")
    return number
