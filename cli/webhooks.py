"""``leadscore webhooks``: subscriptions, the delivery log, replays, and the worker.

The same operations as the admin API (``/v1/admin/webhooks``), on the store of
``LEADSCORE_HOME`` / ``LEADSCORE_DATABASE_URL``; see docs/webhooks.md.
"""

from __future__ import annotations

import json
import signal
from typing import Annotated, Any

import typer

from cli.errors import CommandGroup
from cli.options import open_store, progress
from scoring.settings import Settings

app = typer.Typer(
    cls=CommandGroup,
    help="Push events to subscribers (signed webhooks): subscriptions, deliveries, worker.",
    no_args_is_help=True,
)


def _echo(row: dict[str, Any]) -> None:
    typer.echo(json.dumps(row, default=str, sort_keys=True))


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="http(s) URL the events are POSTed to.")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            "-e",
            help="lead.threshold_crossed, lead.decision_changed, feedback.recorded or "
            "model.promoted; repeat for several.",
        ),
    ],
    secret: Annotated[
        str | None,
        typer.Option(
            help="webhook: signing secret whsec_<base64> (default: a new one); amocrm: the "
            "long-lived access token."
        ),
    ] = None,
    kind: Annotated[str, typer.Option(help="webhook (default), amocrm or bitrix24.")] = "webhook",
    options: Annotated[
        str | None, typer.Option(help="Adapter settings as a JSON object (CRM field ids).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note: who or what it is for.")] = None,
) -> None:
    """Subscribe a URL to events; prints the subscription with its secret (shown once)."""
    try:
        parsed = json.loads(options) if options else {}
    except json.JSONDecodeError:
        raise typer.BadParameter("not valid JSON", param_hint="--options") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--options")
    try:
        row = open_store().create_subscription(
            url,
            event,
            actor="cli",
            secret=secret,
            kind=kind,
            options=parsed,
            description=description,
        )
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        hint = {"events": "--event", "url": "URL"}.get(field, f"--{field}")
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    _echo(row)


@app.command("list")
def list_cmd(
    deleted: Annotated[bool, typer.Option("--deleted", help="Also deleted ones.")] = False,
) -> None:
    """List subscriptions (never their secrets), one JSON object a line."""
    for row in open_store().list_subscriptions(include_deleted=deleted):
        _echo(row)


@app.command("delete")
def delete(subscription_id: str) -> None:
    """Stop a subscription; its undelivered events are cancelled, its log kept."""
    if not open_store().delete_subscription(subscription_id):
        raise typer.BadParameter("no active subscription with this id", param_hint="ID")
    progress(f"deleted {subscription_id}")


@app.command("deliveries")
def deliveries(
    state: Annotated[
        str | None, typer.Option(help="pending, delivered, dead (the dead letters), cancelled")
    ] = None,
    subscription: Annotated[str | None, typer.Option(help="One subscription's only.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """The delivery log, newest first: state, attempts, last answer, next try."""
    store = open_store()
    for row in store.list_deliveries(state=state, subscription_id=subscription, limit=limit):
        _echo(row)


@app.command("attempts")
def attempts(delivery_id: int) -> None:
    """Every attempt of one delivery: when, the answer, how long it took."""
    for row in open_store().delivery_attempts(delivery_id):
        _echo(row)


@app.command("replay")
def replay(
    delivery_id: Annotated[
        list[int] | None, typer.Option("--id", help="A dead delivery's id; repeat for several.")
    ] = None,
    subscription: Annotated[str | None, typer.Option(help="One subscription's only.")] = None,
) -> None:
    """Send dead letters again (attempts start over); all of them unless narrowed."""
    count = open_store().replay_dead(delivery_ids=delivery_id, subscription_id=subscription)
    progress(f"{count} dead letter(s) queued again")


@app.command("worker")
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then stop.")
    ] = False,
) -> None:
    """Deliver the outbox (as `leadscore serve` does in the background), until Ctrl-C.

    Run several, on several hosts, against one PostgreSQL: they share the work. With
    `--once` it stops when nothing is due (for cron).
    """
    from serving.outbox.worker import OutboxWorker

    settings = Settings()
    runner = OutboxWorker.from_settings(open_store(settings), settings)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    progress("delivering (Ctrl-C stops)" if not once else "delivering what is due")
    try:
        if once:
            while runner.run_once():
                pass
        else:
            runner.run()
    except KeyboardInterrupt:
        pass
    finally:
        runner.close()
    progress(f"{runner.delivered} delivered, {runner.failed} failed attempt(s)")
