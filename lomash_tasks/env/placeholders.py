"""Placeholder secrets in `.env.example` files, and the local values that stand in for them.

A value is a placeholder when it tells the reader to replace it, or holds nothing real:

- empty;
- an instruction: `REPLACE_WITH_...`, `replace-me`, `your_..._here` / `your-...`, `<...>`,
  `change-this...`, and `changeme` / `change_me` / `change-me` as the whole value (so
  `changeme_local`, a real development password, is none);
- x-ed out, alone or after a vendor prefix: `xxxxxxxx`, `whsec_xxx...`, `sk_test_51xxx...`,
  or the prefix alone (`whsec_`, `sk_test_`); an instruction after one
  (`whsec_your_stripe_webhook_secret_here`);
- AWS's documentation keys (`AKIAIOSFODNN7EXAMPLE`, `...EXAMPLEKEY`).

Only secrets the stack can stand in for get a generated value (`kind`): the AWS keys of the
local endpoint (`test`), the Stripe signing secret that `inv stripe.replay` signs with
(`whsec_` + 32 letters and digits), and the secrets the services issue and check themselves
(JWT, session, cookie, CSRF, Better Auth, internal service keys, their own webhook secret, a
seed admin's password). A provider's credential (Stripe API keys, Twilio, Firebase, Kafka,
Sentry, an SMTP login, a LocalStack token, ...) is left as written: no local value can stand
in for it. A key that is not secret-named is never given a value, placeholder or not
(`SENTRY_DSN=`, `LOG_FILE_PATH=` stay empty).
"""

from __future__ import annotations

import re
import secrets
import string

from lomash_tasks import masking

AWS, STRIPE_WEBHOOK, PASSWORD, SECRET = "aws", "stripe-webhook", "password", "secret"

_INSTRUCTION = re.compile(
    r"(?:replace[-_ ]?(?:with|me)|your[-_ ]|change[-_ ]?this).*"
    r"|change[-_]?me|<[^<>]*>",
    re.IGNORECASE | re.DOTALL,
)
_CROSSED_OUT = re.compile(r"(?:[a-z]{2,6}_(?:test_|live_)?)?(?:\d{0,2}x{3,})?", re.IGNORECASE)
_VENDOR = re.compile(r"[a-z]{2,6}_(?:test_|live_)?", re.IGNORECASE)  # whsec_, sk_test_, ...
_AWS_DOCS = ("EXAMPLE", "EXAMPLEKEY")

# Secrets the services issue and verify themselves: any local value serves.
_SELF_ISSUED_WORDS = frozenset(
    {
        "JWT",
        "SESSION",
        "COOKIE",
        "CSRF",
        "INTERNAL",
        "MESH",
        "SEED",
        "ENCRYPTION",
        "SIGNING",
        "HMAC",
    }
)
_SELF_ISSUED_KEYS = frozenset(
    {"WEBHOOK_SECRET", "ADMIN_API_KEY", "APP_SECRET", "SECRET_KEY", "API_SECRET"}
)
_AWS_WORDS = frozenset({"AWS", "S3", "SES", "SQS", "SNS", "SECRETS", "MANAGER", "LOCALSTACK"})
_AWS_KEY = re.compile(r"(?P<scope>(?:[A-Z0-9]+_)*)(?:ACCESS_KEY_ID|SECRET_ACCESS_KEY)")

STRIPE_WEBHOOK_KEY = "STRIPE_WEBHOOK_SECRET"


def is_placeholder(value: str | None) -> bool:
    """True for a value that only stands for a secret still to be filled in."""
    value = (value or "").strip()
    if not value:
        return True
    if value.endswith(_AWS_DOCS):
        return True
    if _INSTRUCTION.fullmatch(value) or _INSTRUCTION.fullmatch(_VENDOR.sub("", value, 1)):
        return True
    return bool(_CROSSED_OUT.fullmatch(value)) and ("x" in value.lower() or value.endswith("_"))


def kind(key: str) -> str | None:
    """What local value can stand in for this key's placeholder, or None (leave it)."""
    upper = key.upper()
    if not masking.is_secret_key(upper):
        return None
    aws = _AWS_KEY.fullmatch(upper)
    if aws and set(filter(None, aws.group("scope").split("_"))) <= _AWS_WORDS:
        return AWS
    if upper == STRIPE_WEBHOOK_KEY:
        return STRIPE_WEBHOOK
    words = set(upper.split("_"))
    if upper in _SELF_ISSUED_KEYS or upper.startswith("BETTER_AUTH_") or words & _SELF_ISSUED_WORDS:
        return PASSWORD if upper.endswith(("PASSWORD", "_PASS")) else SECRET
    return None


def generate(which: str) -> str:
    """A fresh local value of the right shape for a placeholder of this kind."""
    if which == AWS:
        return "test"  # the local endpoint takes any key; `test` is LocalStack's own convention
    if which == STRIPE_WEBHOOK:
        return "whsec_" + alnum(32)
    if which == PASSWORD:
        return password()
    return secrets.token_hex(32)  # 64 characters: REPLACE_WITH_64_CHAR_SECRET's length


def alnum(size: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(size))


def password(size: int = 24) -> str:
    """Letters and digits with at least one of each case and a digit: no character that needs
    quoting in a `.env` or encoding in a URL, and accepted by the usual password rules."""
    while True:
        value = alnum(size)
        if (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value
