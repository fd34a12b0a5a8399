"""Reply generators per intent, with an offline writer as fallback.

Use :func:`generate` for any intent and :func:`completion_note` when a transition is known.
"""

from .base import FALLBACK_NOTES, OFFLINE_LABEL, GenerationRequest, ModelGateway, resolve_tone
from .dispatch import generate
from .offline import OfflineWriter
from .task_note import completion_note

__all__ = [
    "FALLBACK_NOTES",
    "OFFLINE_LABEL",
    "GenerationRequest",
    "ModelGateway",
    "OfflineWriter",
    "completion_note",
    "generate",
    "resolve_tone",
]
