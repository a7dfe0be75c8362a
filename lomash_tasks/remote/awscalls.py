"""boto3 calls on a target's account: every botocore failure becomes one clear paragraph.

with awscalls.calls(target, "read secret lomash/staging/auth"):
    sm.get_secret_value(...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lomash_tasks.errors import UserError
from lomash_tasks.remote.targets import Target

EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
INVALID = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def code_of(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def renew_hint(target: Target) -> str:
    if target.aws.profile:
        return (
            f"renew them (`aws sso login --profile {target.aws.profile}`, or your usual "
            f"login for that profile)"
        )
    return (
        "renew them (in GitHub Actions: the aws-actions/configure-aws-credentials step "
        "before this one; elsewhere set AWS_PROFILE or the target's aws.profile)"
    )


@contextlib.contextmanager
def calls(target: Target, what: str) -> Iterator[None]:
    import botocore.exceptions as bx

    where = f"target '{target.name}' ({target.aws.region})"
    try:
        yield
    except bx.ClientError as exc:
        code = code_of(exc)
        message = str(exc.response.get("Error", {}).get("Message", "")) or code
        if code in EXPIRED:
            raise UserError(
                f"The AWS credentials for {where} have expired ({code}) while trying "
                f"to {what}: {renew_hint(target)}, then run the task again."
            ) from None
        if code in INVALID:
            raise UserError(
                f"The AWS credentials for {where} are not valid ({code}) while trying "
                f"to {what}: {renew_hint(target)}."
            ) from None
        if code in DENIED:
            raise UserError(
                f"AWS refused to {what} on {where} ({code}: {message}). The role or "
                f"user in use needs that permission."
            ) from None
        raise
    except bx.NoCredentialsError:
        raise UserError(
            f"No AWS credentials were found for {where} (needed to {what}): set the "
            f"target's aws.profile, AWS_PROFILE, or run under a role "
            f"(configure-aws-credentials in GitHub Actions)."
        ) from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise UserError(
            f"Can't reach AWS for {where} while trying to {what}: {exc}. Check the "
            f"network and the target's aws.region."
        ) from None
