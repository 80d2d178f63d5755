"""API keys: `paleon_` + 30 random base62 characters + a 6-character base62 CRC32 of them.

The checksum lets secret scanners and a quick local check recognise a key (GitHub's token
format); only an HMAC-SHA256 under a server pepper is stored. Keys carry full entropy, so a
slow hash (bcrypt) would only cost time on every request.
"""

import hashlib
import hmac
import secrets
import string
import zlib

PREFIX = "paleon_"
_ALPHABET = string.digits + string.ascii_letters  # base62
_BODY = 30
_CHECKSUM = 6
LENGTH = len(PREFIX) + _BODY + _CHECKSUM
SHOWN = len(PREFIX) + 6  # the part of a key shown in listings


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM)


def generate() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY))
    return PREFIX + body + _checksum(body)


def well_formed(key: str) -> bool:
    """Prefix, length, alphabet and checksum: a typo or a forged key fails before any lookup."""
    if len(key) != LENGTH or not key.startswith(PREFIX):
        return False
    body, checksum = key[len(PREFIX) : -_CHECKSUM], key[-_CHECKSUM:]
    if any(char not in _ALPHABET for char in body + checksum):
        return False
    return hmac.compare_digest(_checksum(body), checksum)


def digest(key: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()
