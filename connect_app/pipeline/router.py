"""Intent -> handler registry (``@router.on(Intent.EMAIL_REQUEST)``), built at run time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..models import Draft, Intent

if TYPE_CHECKING:
    from .run import RunContext

Handler = Callable[["RunContext"], Draft]


class Router:
    """Maps each intent to the function that produces its draft."""

    def __init__(self) -> None:
        """An empty registry."""
        self._handlers: dict[Intent, Handler] = {}

    def on(self, *intents: Intent) -> Callable[[Handler], Handler]:
        """Decorator registering a handler for one or more intents."""

        def register(fn: Handler) -> Handler:
            for intent in intents:
                self._handlers[intent] = fn
            return fn

        return register

    def handler_for(self, intent: Intent) -> Handler:
        """The handler for ``intent``; the ``unclear`` handler when none is registered."""
        return self._handlers.get(intent) or self._handlers[Intent.UNCLEAR]

    @property
    def intents(self) -> list[Intent]:
        """The intents with a handler."""
        return list(self._handlers)
