"""Encryption of secrets at rest (site shared secrets, Forge system tokens).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``, which PyJWT's crypto extra already
brings. The key is derived from ``SECRET_KEY`` with HKDF, so the setting can be any long string.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import StorageError


class SecretBox:
    """Encrypts and decrypts short secrets with a key derived from ``SECRET_KEY``."""

    def __init__(self, secret_key: str) -> None:
        """Derive the Fernet key from ``secret_key``."""
        raw = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"jira-ai-assistant/at-rest/v1", info=b"fernet"
        ).derive(secret_key.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def seal(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; the result is ASCII and safe to store."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        """Decrypt what :meth:`seal` produced; a wrong key raises :class:`StorageError`."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise StorageError("a stored secret cannot be decrypted: has SECRET_KEY changed?") from exc
