"""``framecast keys``: create, list, revoke API keys and show their secrets (never a key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from framecast.cli.common import DatabaseUrl, DataDir, keystore, settings_from
from framecast.core.errors import FramecastError

keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key.")],
    wiro_signature: Annotated[bool, typer.Option(
        "--wiro-signature", help="Wiro dialect: require x-nonce / x-signature (prints the "
        "key's Wiro API secret).")] = False,
    rate: Annotated[str | None, typer.Option(
        "--rate", help="Its own request rate, e.g. 10/second or 10/second;300/minute "
        "(default: the server's FRAMECAST_RATE_LIMIT).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key. Its webhook signing secret (and Wiro API secret) come first; the
    key itself is printed alone on the last line (shown only once)."""
    keys = keystore(settings_from(data_dir=data_dir, database_url=database_url))
    key_id, plaintext = keys.create(name, wiro_signature=wiro_signature,
                                    rate_limit=_checked_rate(rate))
    typer.echo(f"Webhook signing secret (also: framecast keys secret {key_id}): "
               f"{keys.signing_secret(key_id)}")
    if wiro_signature:
        auth = keys.wiro_auth(key_id)
        typer.echo(f"Wiro API secret (x-signature; also: framecast keys secret {key_id}): "
                   f"{auth.secret}")
    typer.echo(f"Created key {key_id} ({name}). It is shown only once:")
    typer.echo(plaintext)


def _checked_rate(rate: str | None) -> str | None:
    """``rate`` as given, once it parses (``none``: no rate of its own); exit 2 otherwise."""
    from framecast.edge.ratelimit import normalized_rate

    try:
        return normalized_rate(rate)
    except ValueError:
        pass
    typer.echo(f"framecast keys: {rate!r} is not a rate; write e.g. 10/second or "
               "10/second;300/minute", err=True)
    raise typer.Exit(2)


@keys_app.command("rate")
def keys_rate(
    key: Annotated[str, typer.Argument(help="Key id, name or prefix.")],
    rate: Annotated[str, typer.Argument(help="e.g. 10/second or 10/second;300/minute; "
                                             "`none` for the server's default.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a key's own request rate (servers apply it within 5 seconds)."""
    keys = keystore(settings_from(data_dir=data_dir, database_url=database_url))
    checked = _checked_rate(rate)
    try:
        key_id = keys.set_rate_limit(key, checked)
    except FramecastError as exc:
        typer.echo(f"cannot set the rate of {key!r}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{key_id}: {checked or 'the server default'}")


@keys_app.command("secret")
def keys_secret(
    key: Annotated[str, typer.Argument(help="Key id, name or prefix; `static` for "
                                            "FRAMECAST_API_KEY.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show a key's webhook signing secret (and Wiro API secret); never the key itself."""
    from framecast.api.runtime import static_signing_secret
    from framecast.edge.auth import STATIC_OWNER_ID

    settings = settings_from(data_dir=data_dir, database_url=database_url)
    if key == STATIC_OWNER_ID:
        typer.echo(f"webhook signing secret: {static_signing_secret(settings)}")
        if settings.wiro_api_secret:
            typer.echo("wiro api secret: (FRAMECAST_WIRO_API_SECRET)")
        return
    keys = keystore(settings)
    try:
        found = keys.find(key)
    except FramecastError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"key: {found.id} ({found.name}){'' if found.active else ' REVOKED'}")
    typer.echo(f"webhook signing secret: {keys.signing_secret(found.id, include_revoked=True)}")
    auth = keys.wiro_auth(found.id)
    if auth is not None and auth.secret:
        typer.echo(f"wiro api secret: {auth.secret}")


keys_app.command("show-secret", hidden=True)(keys_secret)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List keys (id, name, prefix, created, revoked); never the keys themselves."""
    keys = keystore(settings_from(data_dir=data_dir, database_url=database_url))
    table = Table("id", "name", "prefix", "created", "revoked", "webhook secret", "wiro",
                  "rate")

    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"

    for row in keys.list():
        table.add_row(row.id, row.name, row.prefix, when(row.created_at), when(row.revoked_at),
                      "yes" if row.has_signing_secret else "-",
                      "signature" if row.wiro_signature else "key only",
                      row.rate_limit or "default")
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id, name or prefix.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    keys = keystore(settings_from(data_dir=data_dir, database_url=database_url))
    try:
        key_id = keys.revoke(key)
    except FramecastError as exc:   # no match, or a name/prefix matching several keys
        typer.echo(f"cannot revoke {key!r}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {key_id}")


def register(app: typer.Typer) -> None:
    """Add ``framecast keys ...`` to ``app``."""
    app.add_typer(keys_app, name="keys")
