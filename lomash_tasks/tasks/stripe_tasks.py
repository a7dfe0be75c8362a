"""stripe: the webhook signing secret from the Stripe CLI, test events, and offline replays.

The module is not named `stripe.py` so that it never shadows the `stripe` library.
"""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import StripeSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, timeout_flag

# Loaded on first use, so `inv --list` stays fast.
context = lazy("lomash_tasks.context")
webhooks = lazy("lomash_tasks.webhooks")


def _target(c, forward_to=None):
    cfg = context.section(c, StripeSettings)
    return webhooks.target(
        context.workspace(c), cfg.service, cfg.path, forward_to or cfg.forward_to or None
    )


@task(
    iterable=["events"],
    help={
        "events": "Only forward these event types (repeatable, or comma-separated).",
        "forward_to": "Where to forward events (default: the order service's port + "
        "stripe.path, e.g. localhost:3003/v1/webhooks/stripe).",
    },
)
def listen(c, events=None, forward_to=None):
    """Forward Stripe test events to the order service; save the signing secret to its .env."""
    ws = context.workspace(c)
    tgt = _target(c, forward_to)
    code = webhooks.listen(
        ws,
        tgt,
        context.section(c, StripeSettings).cli,
        context.console(c),
        events or (),
        ready_timeout=context.section(c, StripeSettings).ready_timeout,
    )
    if code:
        raise UserError(f"The Stripe CLI exited with status {code}.", code=code)


@task(
    help={
        "timeout": "Seconds to wait for the CLI to print the secret (default: "
        "stripe.ready_timeout)." + TIMEOUT_HELP
    }
)
def secret(c, timeout=None):
    """Save the webhook signing secret from `stripe listen` to the order service's .env."""
    ws = context.workspace(c)
    webhooks.print_secret(
        ws,
        _target(c),
        context.section(c, StripeSettings).cli,
        context.console(c),
        timeout=timeout_flag(timeout, context.section(c, StripeSettings).ready_timeout),
    )


@task(
    help={
        "event": "The event to create, e.g. payment_intent.succeeded (`stripe trigger --help` "
        "lists them)."
    }
)
def trigger(c, event):
    """Create a Stripe test event with `stripe trigger EVENT` (needs Stripe's servers)."""
    code = webhooks.trigger(
        _target(c), context.section(c, StripeSettings).cli, event, context.console(c)
    )
    if code:
        raise UserError(f"`stripe trigger {event}` exited with status {code}.", code=code)


@task(
    positional=["fixture"],
    help={
        "fixture": "The events to send, comma-separated: shipped fixtures (checkout.session."
        "completed, payment_intent.succeeded, payment_intent.payment_failed, "
        "charge.refunded, invoice.paid) or paths to event JSON files.",
        "to": "The webhook URL (default: the order service's, as for stripe.listen).",
        "timeout": "Seconds to wait for each response (default: 10)." + TIMEOUT_HELP,
    },
)
def replay(c, fixture=None, to=None, timeout=None):
    """Sign stored Stripe events with the local secret and POST them (no Stripe account needed)."""
    ws = context.workspace(c)
    out = context.console(c)
    tgt = _target(c)
    names = [f.strip() for f in (fixture or "").split(",") if f.strip()]
    deliveries = webhooks.replay(ws, tgt, names, url=to, timeout=timeout_flag(timeout, 10.0))
    dest = to or tgt.url
    failed = [d for d in deliveries if not d.ok]
    for d in deliveries:
        label = f"{d.fixture.event_type} [{d.fixture.event_id}]"
        if d.status is None:
            out.error(f"{label}: no answer from {dest} ({d.detail})", title="stripe.replay")
        elif d.ok:
            out.ok(f"{label}: {d.status}")
        else:
            out.error(f"{label}: {d.status} {d.detail}", title="stripe.replay")
    if any(d.status is None for d in deliveries):
        raise UserError(
            f"The webhook endpoint {dest} did not answer. Start the order service "
            f"(it listens on port {tgt.service.port}), or point the replay elsewhere "
            f"with --to URL."
        )
    if failed:
        raise UserError(f"{len(failed)} of {len(deliveries)} events were refused (status above).")
    out.ok(f"{len(deliveries)} event{'s' if len(deliveries) != 1 else ''} delivered to {dest}.")


ns = Collection("stripe", listen, secret, trigger, replay)
ns.configure(StripeSettings.defaults())
