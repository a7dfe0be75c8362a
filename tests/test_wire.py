"""The standard-library protocol clients the readiness probes and setup's fingerprints use:
against the session's real PostgreSQL, Redis, SMTP trap and AWS endpoint, and SigV4 against
AWS's own published test vector."""

import datetime

import pytest

from lomash_tasks import wire


def test_sigv4_matches_aws_published_get_vanilla_vector():
    """AWS's Signature Version 4 test suite, case get-vanilla (its example key and date)."""
    signed = wire.sigv4(
        "GET",
        "example.amazonaws.com",
        "/",
        {},
        {},
        b"",
        "us-east-1",
        "service",
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        datetime.datetime(2015, 8, 30, 12, 36, 0),
    )
    assert signed["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_postgres_scram_login_rows_nulls_and_errors(stack):
    pg = stack.ws.registry.postgres
    rows = wire.pg_query(
        pg.host,
        pg.port,
        pg.superuser,
        "changeme_local",
        "postgres",
        [
            "SELECT 1, NULL, 'x''y'",
            "SELECT datname FROM pg_database WHERE datname = " + wire.pg_literal("lomash_auth"),
        ],
    )
    assert rows == [[("1", None, "x'y")], [("lomash_auth",)]]
    with pytest.raises(wire.WireError) as err:
        wire.pg_query(pg.host, pg.port, pg.superuser, "wrong", "postgres", "SELECT 1")
    assert err.value.code == "28P01"
    with pytest.raises(wire.WireError) as err:
        wire.pg_query(
            pg.host, pg.port, pg.superuser, "changeme_local", "postgres", "SELECT no_such_column"
        )
    assert err.value.code == "42703" and "no_such_column" in str(err.value)
    # a role's login to its own database, as the fingerprints make it
    assert wire.pg_query(
        pg.host, pg.port, "lomash_auth", "changeme_local", "lomash_auth", "SELECT current_user"
    ) == [[("lomash_auth",)]]


def test_redis_auth_and_replies(stack):
    rd = stack.ws.registry.redis
    ok, pong, info = wire.resp(
        rd.host, rd.port, [["AUTH", "changeme_local"], ["PING"], ["INFO", "server"]]
    )
    assert (ok, pong) == ("OK", "PONG") and "redis_version:" in info
    refused, noauth = wire.resp(rd.host, rd.port, [["AUTH", "wrong"], ["PING"]])
    assert isinstance(refused, wire.WireError) and isinstance(noauth, wire.WireError)


def test_smtp_ehlo_and_a_signed_s3_call(stack):
    smtp = stack.ws.registry.smtp
    code, text = wire.smtp_ehlo(smtp.host, smtp.port)
    assert code == 250 and text
    status, body = wire.aws_call(stack.ws.registry.aws.url, "eu-west-2", "test", "test", "s3")
    assert status == 200 and b"ListAllMyBucketsResult" in body
