"""What counts as a secret, and how it is hidden in everything the suite prints.

Three rules, applied to every printed line:
- values of keys that look secret (`*PASSWORD*`, `*SECRET*`, `*_KEY*`, `*TOKEN*`, ...) when a
  `KEY=value` pair is shown;
- shapes that are secret wherever they appear: the password in `scheme://user:password@host`,
  Stripe signing secrets (`whsec_...`) and API keys (`sk_...`, `rk_...`);
- every value registered at run time (read from the workspace's env files), wherever it appears.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "****"
MIN_REGISTERED = 6  # shorter values ("test", "true") are too common to hide by value

_SECRET_KEY = re.compile(
    r"(PASSWORD|PASSWD|SECRET|_KEY|^KEY|TOKEN|CREDENTIAL|PRIVATE|_PASS$|AUTH$)", re.IGNORECASE
)
# The password of `scheme://user:password@host`, found from each `://` (a pattern that began with
# the scheme, `[a-zA-Z][a-zA-Z0-9+.-]*://...`, retried at every letter: quadratic on long values).
_URL_AFTER_SCHEME = re.compile(r"://[^:/@\s]*:(?P<pw>[^@\s/]+)(?=@)")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_STRIPE = re.compile(r"\b(?P<prefix>whsec_|sk_(?:test|live)_|rk_(?:test|live)_)[A-Za-z0-9]+")
# KEY=value (env style: upper-case names only, so prose such as "key: x" is left alone)
_PAIR = re.compile(
    r"(?P<key>\b[A-Z_][A-Z0-9_]*)(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;)]+)"
)

_lock = threading.Lock()
_registered: set[str] = set()


# Names that merely describe a secret (where it lives, how long it lasts) hold no secret.
_DESCRIPTIVE = re.compile(
    r"_(PREFIX|NAME|PATH|FILE|REGION|HOST|PORT|TTL|EXPIRY|EXPIRES_IN|"
    r"ALGORITHM|LENGTH|ROUNDS|ENABLED)$",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _DESCRIPTIVE.search(key)


def register(values: Iterable[str | None]) -> list[str]:
    """Hide these values from now on; returns those newly registered."""
    new = []
    with _lock:
        for value in values:
            if value and len(value) >= MIN_REGISTERED and value not in _registered:
                _registered.add(value)
                new.append(value)
    return new


def registered() -> list[str]:
    with _lock:
        return sorted(_registered, key=len, reverse=True)


def _mask_url_passwords(text: str) -> str:
    """Every `scheme://user:PASSWORD@` password masked, in time linear in the text."""
    out: list[str] = []
    done = 0  # text[:done] is in `out`
    for m in _URL_AFTER_SCHEME.finditer(text):
        # a scheme: a letter, then scheme characters, right before `://`, after the last match
        i = m.start()
        letter = None
        while i > done and text[i - 1] in _SCHEME_CHARS:
            i -= 1
            if text[i].isascii() and text[i].isalpha():
                letter = i
        if letter is None:
            continue
        out.append(text[done : m.start("pw")])
        out.append(MASK)
        done = m.end("pw")
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def mask(text: str) -> str:
    """`text` with every secret it holds replaced by `****`."""
    if not text:
        return text
    for value in registered():
        if value in text:
            text = text.replace(value, MASK)
    text = _mask_url_passwords(text)
    text = _STRIPE.sub(lambda m: m.group("prefix") + MASK, text)

    def pair(m: re.Match[str]) -> str:
        if not is_secret_key(m.group("key")) or m.group("value") in (MASK, '""', "''"):
            return m.group(0)
        return m.group("key") + m.group("sep") + MASK

    return _PAIR.sub(pair, text)
