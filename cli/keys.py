"""``leadscore keys``: API keys (stored hashed)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.errors import CommandGroup
from cli.options import open_store, progress

app = typer.Typer(cls=CommandGroup, help="Manage API keys (stored hashed).", no_args_is_help=True)


@app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. 'hubspot-sync'.")],
    role: Annotated[str, typer.Option(help="scorer, sales, marketing or admin")] = "scorer",
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    store = open_store()
    typer.echo(store.create_api_key(name, role))


@app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke every key with this name."""
    open_store().revoke_api_key(name)
    progress(f"revoked {name}")


@app.command("list")
def keys_list() -> None:
    """List keys (names, roles, dates — never the keys)."""
    for row in open_store().list_api_keys():
        typer.echo(json.dumps(row, default=str))
