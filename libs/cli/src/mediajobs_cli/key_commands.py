"""`mediajobs keys create|list|revoke` (admin keys only)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mediajobs_cli import render
from mediajobs_cli.safe_text import plain
from mediajobs_cli.session import current

keys = typer.Typer(help="API keys (admin): create, list, revoke.", no_args_is_help=True)


class Role(StrEnum):
    read = "read"
    submit = "submit"
    admin = "admin"


@keys.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for.")],
    owner: Annotated[str, typer.Option(help="Whose jobs it submits and sees.")],
    role: Annotated[Role, typer.Option(help="read, submit or admin.")] = Role.submit,
) -> None:
    """Create a key; the key itself is printed this once."""
    session = current(ctx)
    with session.api() as api:
        created = api.json("POST", "/keys", json={"name": name, "owner": owner, "role": role.value})
    session.err.print(plain(f"created key {created['id']} ({created['role']}, owner {created['owner']})"))
    session.out.print(plain(created["key"]))


@keys.command("ls", hidden=True)  # as the top level's `ls`
@keys.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List keys (never the keys themselves)."""
    session = current(ctx)
    with session.api() as api:
        session.out.print(render.keys_table(api.json("GET", "/keys")))


@keys.command("revoke")
def revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: refused everywhere within a second."""
    session = current(ctx)
    with session.api() as api:
        api.request("DELETE", f"/keys/{key_id}")
    session.out.print(plain(f"revoked {key_id}"))
