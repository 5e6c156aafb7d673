"""The server commands: ``serve`` (API and worker), ``worker`` (a worker alone), ``mcp``
(the MCP tools over stdio) and ``models`` (what a client can name here).

``serve`` has three process layouts (docs/architecture.md, "Processes"): by default this
process runs the worker and ``--api-processes`` uvicorn children serve the port;
``--single-process`` keeps both in one process; ``--no-worker`` serves the API alone.
Heavy imports (the server, the database) happen inside the commands, so that ``framecast
--help`` and the client commands start quickly.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Annotated

import typer

from framecast.api.settings import Settings
from framecast.cli.common import (
    ConfigPath,
    DatabaseUrl,
    DataDir,
    configure_logging,
    ensure_first_key,
    key_file,
    settings_from,
)

AllowMissing = Annotated[bool, typer.Option(
    "--allow-missing-weights", help="Start even when a configured model's weights are not on "
    "this machine (its tasks then fail, naming the weights).")]


def _check_weights(settings: Settings, *, allow_missing: bool) -> None:
    """Refuse to start a worker whose configured models lack their weights, naming each model,
    its path or hub id, and the command that fetches it."""
    from framecast.core.errors import ConfigError
    from framecast.native.models import missing_weights
    from framecast.service.registry import Registry

    try:
        problems = missing_weights(Registry.load(settings.config), settings.pool_engines)
    except ConfigError as exc:
        typer.echo(f"framecast: {exc}", err=True)
        raise typer.Exit(2) from None
    for problem in problems:
        typer.echo(f"{'warning' if allow_missing else 'error'}: {problem}", err=True)
    if problems and not allow_missing:
        typer.echo("framecast: weights missing (see above); fetch them, fix framecast.toml, "
                   "or start with --allow-missing-weights", err=True)
        raise typer.Exit(2)


def models(config: ConfigPath = None) -> None:
    """List the models a client can name: engine, weights, and whether they are here."""
    from rich.console import Console
    from rich.table import Table

    from framecast.core.errors import ConfigError
    from framecast.native.models import list_models, missing_weights
    from framecast.service.registry import Registry

    settings = settings_from(config=config)
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

    from framecast.api.app import create_app, serving_app

    settings = settings_from(host=host, port=port, data_dir=data_dir, database_url=database_url,
                         config=config, slots=slots, api_processes=api_processes)
    if single_process:
        settings.single_process = True
    if (settings.storage_url or "").startswith("memory://") and not settings.single_process:
        typer.echo("framecast serve: FRAMECAST_STORAGE_URL=memory:// lives in one process; "
                   "add --single-process, or name a file:// or s3:// store", err=True)
        raise typer.Exit(2)
    if settings.single_process and settings.api_processes > 1:
        typer.echo("framecast serve: --single-process runs one API process; leave out "
                   "--api-processes", err=True)
        raise typer.Exit(2)
    if no_worker:
        settings.run_worker = False
    else:
        _check_weights(settings, allow_missing=allow_missing_weights)
    configure_logging()
    first_key = ensure_first_key(settings)
    if first_key:
        typer.echo("Created the first API key (shown once; also saved to "
                   f"{key_file(settings)}, mode 600):")
        typer.echo(f"  {first_key}")
    elif not settings.api_key and key_file(settings).exists():
        typer.echo(f"API key: see {key_file(settings)}")
    if settings.api_processes > 1 and settings.rate_limit_storage.startswith("memory"):
        typer.echo("warning: rate limits are counted per API process with "
                   "FRAMECAST_RATE_LIMIT_STORAGE=memory://; set redis://host:port/db to "
                   "count them across processes", err=True)
    if settings.api_processes == 1 and (settings.single_process or not settings.run_worker):
        announce_when_ready(settings)
        uvicorn.run(serving_app(create_app(settings), settings), host=settings.host,
                    port=settings.port, log_level="info", access_log=False,
                    timeout_graceful_shutdown=max(1, round(settings.drain_s)))
        return
    _serve_processes(settings)


READY_POLL_S = 0.05         # how often serve asks its own /healthz while starting
READY_TIMEOUT_S = 120.0


def announce_when_ready(settings: Settings) -> threading.Thread:
    """Print "Framecast listening on …" once the server answers ``GET /healthz`` (from a
    thread, while uvicorn starts): a request sent right after the line is answered. Before,
    the line came first and a client's first request could meet an API process still
    starting."""
    wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}
    host = wildcard.get(settings.host, settings.host)
    probe = f"http://{host}:{settings.port}/healthz"
    line = (f"Framecast listening on http://{settings.host}:{settings.port} "
            f"(data: {settings.data_dir.resolve()})")

    def wait_and_announce() -> None:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(probe).status_code == 200:
                        typer.echo(line)
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(READY_POLL_S)
        typer.echo(f"framecast serve: no answer from {probe} after {READY_TIMEOUT_S:.0f} s",
                   err=True)

    thread = threading.Thread(target=wait_and_announce, daemon=True,
                              name="framecast-announce")
    thread.start()
    return thread


def _serve_processes(settings: Settings) -> None:
    """serve's default layout: this process runs the worker (its slot threads, reaper and
    engine children) and the webhook delivery loop, while ``--api-processes`` uvicorn
    processes (1 by default) share the port; each builds its app from the ``FRAMECAST_*``
    environment exported here. The API's event loop then never waits for the worker's
    claims and finishes, which take about a millisecond of interpreter time per task.
    Stops the worker when uvicorn's supervisor returns (SIGINT, SIGTERM)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from framecast.api.app import SERVE_PID_ENV
    from framecast.api.runtime import (
        build_runtime,
        start_retention,
        start_supervisor,
        start_webhooks,
    )
    from framecast.core.errors import ConfigError
    from framecast.worker.status import StatusWriter, status_path

    for name in ("data_dir", "database_url", "config", "host", "port", "slots", "drain_s"):
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"FRAMECAST_{name.upper()}"] = str(value)
    os.environ["FRAMECAST_RUN_WORKER"] = "false"
    os.environ[SERVE_PID_ENV] = str(os.getpid())   # the API processes' parent (app.py)
    config = uvicorn.Config("framecast.api.app:api_process_app", factory=True,
                            workers=settings.api_processes, host=settings.host,
                            port=settings.port, log_level="info", access_log=False,
                            timeout_graceful_shutdown=max(1, round(settings.drain_s)))
    sock = config.bind_socket()           # a port in use fails here, before anything starts
    runtime = build_runtime(settings)     # migrates the database before the API processes
    status = None
    if settings.run_worker:
        # the environment is complete before any thread starts: a slot thread spawning an
        # engine child while this thread set a variable once made the child's exec fail
        # (exit 255; CPython spawns with vfork, so the child reads the parent's environ)
        path = status_path(settings.data_dir.resolve(), os.getpid())
        os.environ["FRAMECAST_WORKER_STATUS_FILE"] = str(path)
        try:
            supervisor = start_supervisor(runtime)   # refuses too many slots per GPU, say
        except ConfigError as exc:
            runtime.close()
            typer.echo(f"framecast serve: {exc}", err=True)
            raise typer.Exit(2) from None
        status = StatusWriter(supervisor, path)
        status.start()
    webhooks = start_webhooks(runtime)
    start_retention(runtime)
    announce_when_ready(settings)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        webhooks.stop()
        runtime.close()     # stops the worker too
        if status is not None:
            status.stop()


def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigPath = None,
    slots: Annotated[int | None, typer.Option(help="Engine child processes.")] = None,
    engines: Annotated[str | None, typer.Option(
        help="The engines this worker serves, comma-separated (a pool; default: every "
        "configured engine). Also FRAMECAST_WORKER_ENGINES.")] = None,
    allow_missing_weights: AllowMissing = False,
) -> None:
    """Run a worker alone against a shared database and blob store (no shared disk: set
    FRAMECAST_DATABASE_URL and FRAMECAST_STORAGE_URL). SIGTERM drains it: no new claims,
    the running task gets FRAMECAST_DRAIN_S seconds to finish, else it goes back to the
    queue; then it exits 0."""
    from framecast.api.runtime import (
        build_runtime,
        start_retention,
        start_supervisor,
        start_webhooks,
    )
    from framecast.core.errors import ConfigError

    configure_logging()
    settings = settings_from(data_dir=data_dir, database_url=database_url, config=config,
                             slots=slots)
    if engines is not None:
        settings.worker_engines = engines
    _check_weights(settings, allow_missing=allow_missing_weights)
    runtime = build_runtime(settings)
    try:
        supervisor = start_supervisor(runtime, start=False, serving=False)   # run_forever starts
    except ConfigError as exc:
        runtime.close()
        typer.echo(f"framecast worker: {exc}", err=True)
        raise typer.Exit(2) from None
    webhooks = start_webhooks(runtime)
    start_retention(runtime)
    try:
        supervisor.run_forever(settings.drain_s)
    except KeyboardInterrupt:
        pass
    finally:
        webhooks.stop()
        runtime.close()


def mcp_stdio(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigPath = None,
) -> None:
    """Serve the MCP tools over stdio (for an MCP client's config), with an in-process worker.
    Acts as the key in FRAMECAST_API_KEY, else the data directory's key file."""
    from framecast.cli.mcp_stdio import StdioSetupError, run_stdio

    configure_logging()     # stderr: stdout is the MCP wire
    settings = settings_from(data_dir=data_dir, database_url=database_url, config=config)
    ensure_first_key(settings)   # a fresh data directory gets its key, as with `serve`
    try:
        run_stdio(settings, key_file(settings))
    except StdioSetupError as exc:
        typer.echo(f"framecast mcp: {exc}", err=True)
        raise typer.Exit(2) from None



def register(app: typer.Typer) -> None:
    """Add the server commands to ``app``."""
    app.command()(models)
    app.command()(serve)
    app.command()(worker)
    app.command("mcp")(mcp_stdio)
