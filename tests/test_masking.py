"""Secret masking and the console's output modes."""

import io

from lomash_tasks import masking
from lomash_tasks.console import Console


def test_shapes_are_masked_wherever_they_appear():
    text = (
        "url postgresql://lomash_auth:s3cr3t-pw@127.0.0.1:5432/lomash_auth and "
        "redis://:another-pw@localhost:6379/0, whsec_abcDEF123 sk_test_51Habc"
    )
    masked = masking.mask(text)
    for secret in ("s3cr3t-pw", "another-pw", "abcDEF123", "51Habc"):
        assert secret not in masked
    assert "postgresql://lomash_auth:****@127.0.0.1:5432/lomash_auth" in masked
    assert "whsec_****" in masked and "sk_test_****" in masked


def test_secret_keys_are_masked_but_prose_is_left_alone():
    assert masking.mask("STRIPE_WEBHOOK_SECRET=whatever1") == "STRIPE_WEBHOOK_SECRET=****"
    assert masking.mask("POSTGRES_PASSWORD: hunter22") == "POSTGRES_PASSWORD: ****"
    assert masking.mask("PORT=3001") == "PORT=3001"
    assert masking.mask("updated (+1 key: NEW_FLAG)") == "updated (+1 key: NEW_FLAG)"


def test_registered_values_are_masked_and_short_ones_ignored():
    masking.register(["a-registered-value", "test"])
    assert masking.mask("x a-registered-value y") == "x **** y"
    assert masking.mask("test") == "test"


def test_github_actions_mode(monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = io.StringIO()
    console = Console(out=out, err=out)
    console.add_mask("gh-only-secret-value")
    with console.group("db.migrate"):
        console.print("using gh-only-secret-value")
    console.error("auth-service: P3009 failed migration\nsecond line", title="db.migrate")
    console.step_summary("| step | result |\n|---|---|\n| x | gh-only-secret-value |")
    lines = out.getvalue().splitlines()
    assert lines[0] == "::add-mask::gh-only-secret-value"
    assert lines[1:4] == ["::group::db.migrate", "using ****", "::endgroup::"]
    assert (
        lines[4] == "::error title=db.migrate::auth-service: P3009 failed migration%0Asecond line"
    )
    assert "gh-only-secret-value" not in summary.read_text()
    assert console.confirm("drop?") is False  # never prompts in CI


def test_url_passwords_are_found_as_the_scheme_pattern_finds_them():
    """The linear search masks exactly what `scheme://user:password@` (a regex that retried at
    every letter, quadratic on long values) masked, on many generated strings."""
    import random
    import re

    old = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)")
    rng = random.Random(7)
    alphabet = ["a", "Z", "1", "+", ".", "-", ":", "/", "@", " ", "://", ":p@", "x:"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert masking._mask_url_passwords(text) == old.sub(
            lambda m: m.group("head") + masking.MASK, text
        ), repr(text)
    assert masking._mask_url_passwords("1postgres://u:pw@h") == "1postgres://u:****@h"
