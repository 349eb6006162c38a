"""Terminal secrets, and showing one again to a retry of the request that issued it.

CreateTerminal and RotateTerminalSecret are idempotent by request id (AIP-155): a POS
installer whose reply was lost retries with the same id and must get the same secret — the one
the terminal now answers to. But the database must not hold secrets: it keeps only
sha256(salt ‖ secret) to check them (`terminals`), and the runtime's request-id table stores
whole replies, so the secret is left out of the reply stored there.

How the secret is kept retrievable without being stored. A secret issued under a request id is
derived, not drawn: `secret = HMAC-SHA256(key, nonce)`, 256 bits, where the nonce is 256 random
bits kept in `rd_held_secret` beside the request's key and the key is the service's
`LINLI_TERMINAL_SECRET_KEY`, never in the database. A retry re-derives the secret from the
nonce and checks it against the terminal's stored hash. So

- a copy of the database alone reveals no secret (the nonce without the key is nothing), nor
  does the key alone (nothing to derive from);
- with both, only the secrets issued in the last `terminal_secret_replay_hours` (24 h) and
  still current can be derived: a nonce is deleted when its secret is replaced (rotation),
  when the terminal is revoked, and once it is older than that;
- no home-made cipher and no new dependency: HMAC-SHA256 as a pseudo-random function is what
  HKDF is built from.

Encrypting the secret at rest (AES-GCM under the same key) would give the same protection with
a ciphertext where the nonce is; deriving was chosen because it needs nothing beyond the
standard library and leaves nothing to decrypt. A secret issued without a request id is drawn
at random and never retrievable (there is no retry to answer).

The request's key is sha256(caller ‖ method ‖ request id), the same triple the runtime's
request-id table keys replies by, so a retry by another caller cannot see the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from linli_runtime.errors import FailedPrecondition

log = logging.getLogger("linli.redemption.terminals")

INFO = b"linli partner-redemption terminal secret v1\x00"


def request_key(caller: str, method: str, request_id: str) -> str:
    """The key a request's held nonce is stored under (no request id in clear)."""
    return hashlib.sha256("\x1f".join((caller, method, request_id)).encode()).hexdigest()


def not_held() -> FailedPrecondition:
    return FailedPrecondition(
        "the secret this request issued can no longer be shown again: it is shown again for a while "
        "after it was issued, and only while it is the terminal's current secret; rotate the terminal's "
        "secret (with a new request id) to get a new one", reason="SECRET_NOT_HELD")


class SecretMaker:
    """Draws terminal secrets, or derives them from a nonce under the service's key."""

    def __init__(self, key: str, replay_for: timedelta) -> None:
        if not key:
            log.warning("LINLI_TERMINAL_SECRET_KEY is not set: a random key for this process only; a retried "
                        "CreateTerminal/RotateTerminalSecret reaching another replica or a restarted one cannot be "
                        "shown its secret again (SECRET_NOT_HELD)")
            key = secrets.token_urlsafe(32)
        self._key = hashlib.sha256(key.encode()).digest()
        # Names the key without revealing it: a nonce kept under another key is not derived with this one.
        self.key_id = hashlib.sha256(b"key id\x00" + self._key).hexdigest()[:16]
        self.replay_for = replay_for

    @staticmethod
    def drawn() -> str:
        """A secret nobody will ask for again (no request id)."""
        return secrets.token_urlsafe(32)

    def derived(self) -> tuple[str, str]:
        """(secret, nonce): a secret a retry can be shown again from its nonce."""
        nonce = secrets.token_hex(32)
        return self.derive(nonce), nonce

    def derive(self, nonce: str) -> str:
        digest = hmac.new(self._key, INFO + bytes.fromhex(nonce), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def expire_time(self, now: datetime) -> datetime:
        return now + self.replay_for
