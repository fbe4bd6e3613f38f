"""Globally unique, time-sortable ids (ULID, Crockford base32), merge-safe across machines."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(at_ms: int | None = None) -> str:
    """A new ULID; ids made in one process within the same millisecond stay ordered."""
    global _last_ms, _last_rand
    ms = int(time.time() * 1000) if at_ms is None else int(at_ms)
    with _lock:
        if at_ms is None and ms <= _last_ms:
            # same millisecond: stay ordered, with a random step so ids still differ early
            ms = _last_ms
            rand = _last_rand + 1 + int.from_bytes(os.urandom(8), "big")
            if rand >= 1 << 80:
                ms, rand = ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        if at_ms is None:
            _last_ms, _last_rand = ms, rand
    return _encode(ms, 10) + _encode(rand & ((1 << 80) - 1), 16)


def normalise_prefix(text: str) -> str:
    """Upper-case an id or id prefix as typed by a user (ULIDs are case-insensitive)."""
    return text.strip().upper()


SHORT_ID_LENGTH = 12


def short(id_: str) -> str:
    """The prefix the CLI shows; any unique prefix is accepted back."""
    return id_[:SHORT_ID_LENGTH]
