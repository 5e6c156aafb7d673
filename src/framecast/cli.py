"""The ``framecast`` command: ``serve``, ``worker``, ``models`` and ``keys``.

Settings come from ``FRAMECAST_*`` environment variables; command-line options override them.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from framecast.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Framecast: a self-hosted Seedance / Seedream compatible generation server.")
keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
app.add_typer(keys_app, name="keys")

KEY_FILE = "api-key.txt"

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory "
                                              "(SQLite file, stored files, keys).")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL; "
                                                 "default: SQLite in the data directory.")]
ConfigPath = Annotated[Path | None, typer.Option("--config", help="framecast.toml model registry.")]


def _settings(**overrides: Any) -> Settings:
    """Environment settings with the command-line options that were given."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)


def _configure_logging() -> None:
    """INFO for Framecast; HTTP client libraries stay at WARNING because they would log every
    fetched URL, query strings (signatures, presigned credentials) included."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _keystore(settings: Settings) -> Any:
    from framecast.store.db import open_database
    from framecast.store.keys import KeyStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return KeyStore(open_database(settings.resolved_database_url))


def ensure_first_key(settings: Settings) -> str | None:
    """When no key exists (and no static key is set), create one, keep it in the data dir
    (mode 600) and return it so ``serve`` can print it once."""
    if settings.api_key:
        return None
    keys = _keystore(settings)
    if keys.count_active() > 0:
        return None
    _, plaintext = keys.create("default")
    path = settings.data_dir / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(plaintext + "\n")
    return plaintext


AllowMissing = Annotated[bool, typer.Option(
    "--allow-missing-weights", help="Start even when a configured model's weights are not on "
    "this machine (its tasks then fail, naming the weights).")]


def _check_weights(settings: Settings, *, allow_missing: bool) -> None:
    """Refuse to start a worker whose configured models lack their weights, naming each model,
    its path or hub id, and the command that fetches it."""
    from framecast.core.errors import ConfigError
    from framecast.native.models import missing_weights
    from framecast.registry import Registry

    try:
        problems = missing_weights(Registry.load(settings.config))
    except ConfigError as exc:
        typer.echo(f"framecast: {exc}", err=True)
        raise typer.Exit(2) from None
    for problem in problems:
        typer.echo(f"{'warning' if allow_missing else 'error'}: {problem}", err=True)
    if problems and not allow_missing:
        typer.echo("framecast: weights missing (see above); fetch them, fix framecast.toml, "
                   "or start with --allow-missing-weights", err=True)
        raise typer.Exit(2)


@app.command()
def models(config: ConfigPath = None) -> None:
    """List the models a client can name: engine, weights, and whether they are here."""
    from rich.console import Console
    from rich.table import Table

    from framecast.core.errors import ConfigError
    from framecast.native.models import list_models, missing_weights
    from framecast.registry import Registry

    settings = _settings(config=config)
    try:
        registry = Registry.load(settings.config)
    except ConfigError as exc:
        typer.echo(f"framecast: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table("id", "kind", "engine", "weights", "present", "aliases")
    for info in list_models(registry).data:
        present = "yes" if info.weights_present else "[red]missing[/red]"
        if not info.weights and info.weights_present:
            present = "not needed"
        table.add_row(info.id, info.kind, info.engine, info.weights or "-", present,
                      str(len(info.aliases)))
    Console(width=160).print(table)
    for problem in missing_weights(registry):
        typer.echo(problem)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigPath = None,
    slots: Annotated[int | None, typer.Option(help="Engine child processes (default 1).")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API only; run "
                                            "`framecast worker` elsewhere.")] = False,
    allow_missing_weights: AllowMissing = False,
    api_processes: Annotated[int | None, typer.Option(
        "--api-processes", min=1, max=64, help="API processes sharing the port (default 1).")
    ] = None,
    single_process: Annotated[bool, typer.Option(
        "--single-process", help="Run the API and the worker in one process (by default "
        "the worker runs in the process serve started as, the API in a child).")] = False,
) -> None:
    """Start the API server and a worker (embedded defaults: SQLite, local files, CPU
    engines)."""
    import uvicorn

    from framecast.app import create_app, serving_app

    settings = _settings(host=host, port=port, data_dir=data_dir, database_url=database_url,
                         config=config, slots=slots, api_processes=api_processes)
    if single_process:
        settings.single_process = True
    if settings.single_process and settings.api_processes > 1:
        typer.echo("framecast serve: --single-process runs one API process; leave out "
                   "--api-processes", err=True)
        raise typer.Exit(2)
    if no_worker:
        settings.run_worker = False
    else:
        _check_weights(settings, allow_missing=allow_missing_weights)
    _configure_logging()
    first_key = ensure_first_key(settings)
    if first_key:
        typer.echo("Created the first API key (shown once; also saved to "
                   f"{settings.data_dir / KEY_FILE}, mode 600):")
        typer.echo(f"  {first_key}")
    elif not settings.api_key and (settings.data_dir / KEY_FILE).exists():
        typer.echo(f"API key: see {settings.data_dir / KEY_FILE}")
    typer.echo(f"Framecast listening on http://{settings.host}:{settings.port} "
               f"(data: {settings.data_dir.resolve()})")
    if settings.api_processes == 1 and (settings.single_process or not settings.run_worker):
        uvicorn.run(serving_app(create_app(settings), settings), host=settings.host,
                    port=settings.port, log_level="info", access_log=False)
        return
    _serve_processes(settings)


def _serve_processes(settings: Settings) -> None:
    """serve's default layout: this process runs the worker (its slot threads, reaper and
    engine children) and the webhook delivery loop, while ``--api-processes`` uvicorn
    processes (1 by default) share the port; each builds its app from the ``FRAMECAST_*``
    environment exported here. The API's event loop then never waits for the worker's
    claims and finishes, which take about a millisecond of interpreter time per task.
    Stops the worker when uvicorn's supervisor returns (SIGINT, SIGTERM)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from framecast.app import build_runtime, start_supervisor
    from framecast.webhooks import start_webhooks
    from framecast.worker.status import StatusWriter, status_path

    for name in ("data_dir", "database_url", "config", "host", "port", "slots"):
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"FRAMECAST_{name.upper()}"] = str(value)
    os.environ["FRAMECAST_RUN_WORKER"] = "false"
    config = uvicorn.Config("framecast.app:api_process_app", factory=True,
                            workers=settings.api_processes, host=settings.host,
                            port=settings.port, log_level="info", access_log=False)
    sock = config.bind_socket()           # a port in use fails here, before anything starts
    runtime = build_runtime(settings)     # migrates the database before the API processes
    status = None
    if settings.run_worker:
        status = StatusWriter(start_supervisor(runtime),
                              status_path(settings.data_dir.resolve(), os.getpid()))
        status.start()
        os.environ["FRAMECAST_WORKER_STATUS_FILE"] = str(status.path)
    webhooks = start_webhooks(runtime)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        webhooks.stop()
        runtime.close()     # stops the worker too
        if status is not None:
            status.stop()


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigPath = None,
    slots: Annotated[int | None, typer.Option(help="Engine child processes.")] = None,
    allow_missing_weights: AllowMissing = False,
) -> None:
    """Run a worker supervisor alone against a shared database and storage."""
    from framecast.app import build_runtime, start_supervisor

    _configure_logging()
    settings = _settings(data_dir=data_dir, database_url=database_url, config=config, slots=slots)
    _check_weights(settings, allow_missing=allow_missing_weights)
    runtime = build_runtime(settings)
    supervisor = start_supervisor(runtime, start=False, serving=False)   # run_forever starts it
    from framecast.webhooks import start_webhooks  # webhooks: deliver from workers too

    webhooks = start_webhooks(runtime)
    try:
        supervisor.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        webhooks.stop()
        runtime.close()


@app.command("mcp")
def mcp_stdio(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigPath = None,
) -> None:
    """Serve the MCP tools over stdio (for an MCP client's config), with an in-process worker.
    Acts as the key in FRAMECAST_API_KEY, else the data directory's key file."""
    from framecast.mcp.stdio import StdioSetupError, run_stdio

    _configure_logging()     # stderr: stdout is the MCP wire
    settings = _settings(data_dir=data_dir, database_url=database_url, config=config)
    ensure_first_key(settings)   # a fresh data directory gets its key, as with `serve`
    try:
        run_stdio(settings, settings.data_dir / KEY_FILE)
    except StdioSetupError as exc:
        typer.echo(f"framecast mcp: {exc}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key.")],
    wiro_signature: Annotated[bool, typer.Option(
        "--wiro-signature", help="Wiro dialect: require x-nonce / x-signature (prints the "
        "key's Wiro API secret).")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key. Its webhook signing secret (and Wiro API secret) come first; the
    key itself is printed alone on the last line (shown only once)."""
    keys = _keystore(_settings(data_dir=data_dir, database_url=database_url))
    key_id, plaintext = keys.create(name, wiro_signature=wiro_signature)
    typer.echo(f"Webhook signing secret (also: framecast keys secret {key_id}): "
               f"{keys.signing_secret(key_id)}")
    if wiro_signature:
        auth = keys.wiro_auth(key_id)
        typer.echo(f"Wiro API secret (x-signature; also: framecast keys secret {key_id}): "
                   f"{auth.secret}")
    typer.echo(f"Created key {key_id} ({name}). It is shown only once:")
    typer.echo(plaintext)


@keys_app.command("secret")
def keys_secret(
    key: Annotated[str, typer.Argument(help="Key id, name or prefix; `static` for "
                                            "FRAMECAST_API_KEY.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show a key's webhook signing secret (and Wiro API secret); never the key itself."""
    from framecast.auth import STATIC_OWNER_ID
    from framecast.core.errors import FramecastError
    from framecast.webhooks import static_signing_secret

    settings = _settings(data_dir=data_dir, database_url=database_url)
    if key == STATIC_OWNER_ID:
        typer.echo(f"webhook signing secret: {static_signing_secret(settings)}")
        if settings.wiro_api_secret:
            typer.echo("wiro api secret: (FRAMECAST_WIRO_API_SECRET)")
        return
    keys = _keystore(settings)
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
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    keys = _keystore(_settings(data_dir=data_dir, database_url=database_url))
    table = Table("id", "name", "prefix", "created", "revoked", "webhook secret", "wiro")

    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"

    for row in keys.list():
        table.add_row(row.id, row.name, row.prefix, when(row.created_at), when(row.revoked_at),
                      "yes" if row.has_signing_secret else "-",
                      "signature" if row.wiro_signature else "key only")
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id, name or prefix.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from framecast.core.errors import FramecastError

    keys = _keystore(_settings(data_dir=data_dir, database_url=database_url))
    try:
        key_id = keys.revoke(key)
    except FramecastError as exc:   # no match, or a name/prefix matching several keys
        typer.echo(f"cannot revoke {key!r}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {key_id}")


# client commands on the SDK: `video`, `image`, `tasks ...` (framecast.cli_client)
from framecast.cli_client import register as _register_client_commands  # noqa: E402

_register_client_commands(app)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="framecast")


if __name__ == "__main__":
    sys.exit(main())
