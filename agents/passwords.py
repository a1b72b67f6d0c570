"""argon2id password hashes, and what a new password must be.

Hashing is deliberately slow and runs in worker threads; at most ``HASH_SLOTS`` hashes run
at once in a process (one core fewer than the machine has, at least one), so that a burst
of sign-ins, guessed or not, queues here instead of taking every core from the sockets.
"""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chat.errors import InvalidRequest

__all__ = [
    "MIN_PASSWORD_CHARS",
    "check_new_password",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_PASSWORD_CHARS = 10
MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is "safely unguessable" (about 10^8 guesses and up)
HASH_SLOTS = max(1, (os.cpu_count() or 2) - 1)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY = _hasher.hash("causette: equal work whether or not the account exists")
_slots = threading.BoundedSemaphore(HASH_SLOTS)  # a process-wide limit, like the CPU itself


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time and fail."""
    with _slots:
        try:
            return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_new_password(
    password: str, *, email: str = "", name: str = "", current_hash: str | None = None
) -> None:
    """Raise InvalidRequest (weak_password, same_password) unless ``password`` may be an
    agent's new password: at least MIN_PASSWORD_CHARS characters, not guessable (zxcvbn
    score MIN_STRENGTH or more, with the agent's email and name counted as known words:
    common passwords, keyboard walks, repeats, dates and l33t spellings fail), and not the
    current password."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidRequest(
            f"The password must have at least {MIN_PASSWORD_CHARS} characters.",
            code="weak_password",
        )
    from zxcvbn import zxcvbn  # its dictionaries take 10 MB: loaded when a password is set

    hints = [h for h in (email, email.split("@")[0], name, *name.split()) if h]
    if zxcvbn(password[:100], user_inputs=hints)["score"] < MIN_STRENGTH:
        raise InvalidRequest(
            "This password is too easy to guess: use a few unrelated words, or a longer one.",
            code="weak_password",
        )
    if current_hash is not None and verify_password(current_hash, password):
        raise InvalidRequest(
            "The new password is the current one: choose another.", code="same_password"
        )
