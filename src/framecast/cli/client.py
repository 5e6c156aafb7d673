"""The client commands of ``framecast``, on the SDK: ``video``, ``image`` and ``tasks``.

    framecast video --image cat.png --prompt "slow push in" --resolution 480p -o cat.mp4
    framecast image --prompt "a red fox" --size 1024x1024 -o fox.png
    framecast tasks list | get ID | cancel ID | delete ID | watch ID

The server is ``--server`` or ``FRAMECAST_URL``, the key ``FRAMECAST_API_KEY``. With no
server the command runs the task in-process on the embedded defaults (``cli/local.py``).
Progress is a bar on stderr; ``--json`` prints the final task JSON on stdout and nothing else.

Exit codes: 0 success; 1 the task failed, was cancelled or expired, or waiting timed out;
2 bad input (a local file, a field the server refused, an unknown model or task);
3 the server could not be used (unreachable, key refused, server error, in-process setup).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from framecast.cli.progress import ProgressBar, describe_task
from framecast.client import (
    APIError,
    BadRequestError,
    Framecast,
    FramecastError,
    InputError,
    NotFoundError,
    ProgressCallback,
    Task,
    TaskFailedError,
    TimeoutError,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

tasks_app = typer.Typer(no_args_is_help=True, help="List, inspect, follow, cancel and delete "
                                                   "tasks.")

Server = Annotated[str | None, typer.Option(
    "--server", envvar="FRAMECAST_URL", show_envvar=True,
    help="Server URL; without one the task runs in this process (embedded defaults).")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="In-process mode: the data directory (default ./framecast-data).")]
ConfigPath = Annotated[Path | None, typer.Option(
    "--config", help="In-process mode: framecast.toml model registry.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the final task JSON on stdout "
                                                      "and nothing else.")]
# a string, not a Path: a trailing "/" (save into this folder) must survive
Output = Annotated[str | None, typer.Option(
    "--output", "-o", help="Where to save the result: a file, or a folder (existing, or "
                           "ending in /); default <task id>.<ext> here.")]
Timeout = Annotated[float | None, typer.Option("--timeout", help="Give up waiting after this "
                                                                 "many seconds.")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Queue the task, print it and exit.")]


@contextmanager
def _connect(server: str | None, data_dir: Path | None, config: Path | None, *,
             run_worker: bool) -> Iterator[tuple[Framecast, bool]]:
    """(client, in_process): the SDK on ``server``, or on an in-process server."""
    if server:
        with Framecast(server) as client:
            yield client, False
        return
    from framecast.api.settings import Settings
    from framecast.cli.local import EmbeddedServer, local_api_key

    given = {k: v for k, v in {"data_dir": data_dir, "config": config}.items() if v is not None}
    settings = Settings(**given)
    key = local_api_key(settings)
    with EmbeddedServer(settings, run_worker=run_worker) as local, \
            Framecast(local.base_url, api_key=key) as client:
        yield client, True


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"framecast: {message}", err=True)
    raise typer.Exit(code)


def _exit_code(exc: FramecastError) -> int:
    if isinstance(exc, TaskFailedError | TimeoutError):
        return EXIT_FAILED
    if isinstance(exc, InputError | BadRequestError | NotFoundError):
        return EXIT_BAD_INPUT
    return EXIT_UNAVAILABLE


@contextmanager
def _errors() -> Iterator[None]:
    """Every failure as one line on stderr and its exit code."""
    from framecast.cli.local import LocalSetupError

    try:
        yield
    except TaskFailedError as exc:
        task = exc.task
        why = f"{task.error.code}: {task.error.message}" if task.error else task.status
        _fail(f"task {task.id} {task.status} ({why})", EXIT_FAILED)
    except TimeoutError as exc:
        _fail(f"{exc.message} (it goes on; follow it with `framecast tasks watch`)", EXIT_FAILED)
    except APIError as exc:
        _fail(f"{exc.message}" + (f" (param `{exc.param}`)" if exc.param else "")
              + f" [{exc.status} {exc.code or 'error'}]", _exit_code(exc))
    except FramecastError as exc:
        _fail(exc.message, _exit_code(exc))
    except LocalSetupError as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)


def _print_json(task: Task) -> None:
    sys.stdout.write(json.dumps(task.model_dump(mode="json")) + "\n")
    sys.stdout.flush()


def _follow(client: Framecast, task: Task, *, as_json: bool, timeout: float | None,
            in_process: bool) -> Task:
    """Wait for ``task`` with a progress bar (none with ``--json``); Ctrl-C stops waiting
    (and cancels the task in-process, where nothing else would run it)."""
    try:
        with ProgressBar(task, enabled=not as_json) as bar:
            callback: ProgressCallback | None = None if as_json else bar.update
            return client.tasks.wait(task.id, on_progress=callback, timeout=timeout)
    except KeyboardInterrupt:
        if in_process:
            try:
                client.tasks.cancel(task.id)
            except FramecastError:
                pass
            _fail(f"interrupted; task {task.id} cancelled", EXIT_INTERRUPTED)
        _fail(f"interrupted; task {task.id} goes on (framecast tasks watch {task.id})",
              EXIT_INTERRUPTED)


def _finish(client: Framecast, task: Task, output: str | None, *, as_json: bool) -> None:
    """Save the result (and a last frame), then report."""
    saved: list[Path] = []
    primary = task.primary_output
    if primary is not None:
        target = output or f"{task.id}{Path(primary.name).suffix}"
        saved.append(client.download(primary, target))
        last = task.output("last_frame.png")
        if last is not None:
            path = saved[0].with_name(saved[0].stem + ".last_frame.png")
            saved.append(client.download(last, path))
    if as_json:
        _print_json(task)
        return
    typer.echo(describe_task(task))
    for path in saved:
        typer.echo(f"saved {path}")


def _check_files(**sources: str | list[str] | None) -> None:
    """Refuse a missing local file before any server is started or asked (exit 2)."""
    for param, value in sources.items():
        for item in [value] if isinstance(value, str) else value or []:
            text = item.strip()
            if not text.lower().startswith(("http://", "https://", "data:")) and \
                    not Path(text).expanduser().is_file():
                _fail(f"--{param}: no such file: {item}", EXIT_BAD_INPUT)


def _generate(create: Callable[[Framecast], Task], server: str | None, data_dir: Path | None,
              config: Path | None, output: str | None, *, as_json: bool, no_wait: bool,
              timeout: float | None) -> None:
    with _errors(), _connect(server, data_dir, config, run_worker=not no_wait) as (client, local):
        task = create(client)
        if no_wait:
            _print_json(task) if as_json else typer.echo(task.id)
            return
        task = _follow(client, task, as_json=as_json, timeout=timeout, in_process=local)
        _finish(client, task, output, as_json=as_json)


def video(
    image: Annotated[str | None, typer.Option("--image", "-i", help="First frame: a file or "
                                                                   "an http(s) URL.")] = None,
    last: Annotated[str | None, typer.Option("--last", help="Last frame (needs --image).")] = None,
    ref: Annotated[list[str] | None, typer.Option("--ref", help="Reference image (repeat, "
                                                               "1–4).")] = None,
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What happens.")] = "",
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    resolution: Annotated[str | None, typer.Option("--resolution", "-r",
                                                   help="480p, 720p or 1080p.")] = None,
    ratio: Annotated[str | None, typer.Option(help="16:9, 4:3, 1:1, 9:16, ... or "
                                                   "adaptive.")] = None,
    duration: Annotated[int | None, typer.Option("--duration", "-d",
                                                 help="Seconds (2–12).")] = None,
    frames: Annotated[int | None, typer.Option(help="Frame count, 25+4n (instead of "
                                                    "--duration).")] = None,
    fps: Annotated[int | None, typer.Option(help="24 or 16.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    camera_fixed: Annotated[bool, typer.Option("--camera-fixed")] = False,
    watermark: Annotated[bool, typer.Option("--watermark")] = False,
    audio: Annotated[bool, typer.Option("--audio", help="Generate audio (models that "
                                                        "can).")] = False,
    return_last_frame: Annotated[bool, typer.Option("--return-last-frame",
                                                    help="Also save the last frame.")] = False,
    tier: Annotated[str | None, typer.Option("--tier", help="default or flex.")] = None,
    output: Output = None, as_json: JsonOut = False, no_wait: NoWait = False,
    timeout: Timeout = None, server: Server = None, data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Make a video from an image (or from text) and save it as MP4."""
    _check_files(image=image, last=last, ref=ref)

    def create(client: Framecast) -> Task:
        return client.videos.create(
            image=image, last_frame=last, references=ref or None, prompt=prompt, model=model,
            resolution=resolution, ratio=ratio, duration=duration, frames=frames, fps=fps,
            seed=seed, camera_fixed=camera_fixed or None, watermark=watermark or None,
            generate_audio=audio or None, return_last_frame=return_last_frame or None,
            service_tier=tier)

    _generate(create, server, data_dir, config, output, as_json=as_json, no_wait=no_wait,
              timeout=timeout)


def image(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What to draw.")],
    size: Annotated[str | None, typer.Option(help="WxH or a preset (1K, 2K, 4K).")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", help="1–10.")] = None,
    watermark: Annotated[bool | None, typer.Option("--watermark/--no-watermark")] = None,
    ref: Annotated[list[str] | None, typer.Option("--ref", help="Reference image (repeat).")
                   ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    output: Output = None, as_json: JsonOut = False, no_wait: NoWait = False,
    timeout: Timeout = None, server: Server = None, data_dir: DataDir = None,
    config: ConfigPath = None,
) -> None:
    """Make an image from a prompt and save it as PNG."""
    _check_files(ref=ref)

    def create(client: Framecast) -> Task:
        return client.images.generate(prompt=prompt, size=size, seed=seed,
                                      guidance_scale=guidance, watermark=watermark,
                                      images=ref or None, model=model, wait=False)

    _generate(create, server, data_dir, config, output, as_json=as_json, no_wait=no_wait,
              timeout=timeout)


TaskId = Annotated[str, typer.Argument(help="The task id.")]


@tasks_app.command("list")
def tasks_list(
    status: Annotated[str | None, typer.Option(help="Comma-separated statuses.")] = None,
    kind: Annotated[str | None, typer.Option(help="video or image.")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOut = False, server: Server = None, data_dir: DataDir = None,
) -> None:
    """The key's tasks, newest first."""
    from framecast.cli.progress import task_table

    with _errors(), _connect(server, data_dir, None, run_worker=False) as (client, _):
        page = client.tasks.list(status=status.split(",") if status else None, kind=kind,
                                 model=model, limit=limit, offset=offset)
        if as_json:
            sys.stdout.write(page.model_dump_json() + "\n")
            return
        task_table(page)


@tasks_app.command("get")
def tasks_get(task_id: TaskId, as_json: JsonOut = False, server: Server = None,
              data_dir: DataDir = None) -> None:
    """One task."""
    with _errors(), _connect(server, data_dir, None, run_worker=False) as (client, _):
        task = client.tasks.get(task_id)
        _print_json(task) if as_json else typer.echo(describe_task(task, detail=True))


@tasks_app.command("cancel")
def tasks_cancel(task_id: TaskId, as_json: JsonOut = False, server: Server = None,
                 data_dir: DataDir = None) -> None:
    """Cancel a queued task, or kill a running one."""
    with _errors(), _connect(server, data_dir, None, run_worker=False) as (client, _):
        task = client.tasks.cancel(task_id)
        _print_json(task) if as_json else typer.echo(
            f"{task.id}: {'kill requested' if task.status == 'running' else task.status}")


@tasks_app.command("delete")
def tasks_delete(task_id: TaskId, server: Server = None, data_dir: DataDir = None) -> None:
    """Delete a finished (or queued) task and its files."""
    with _errors(), _connect(server, data_dir, None, run_worker=False) as (client, _):
        deleted = client.tasks.delete(task_id)
        typer.echo(f"{deleted.id}: deleted ({deleted.status})")


@tasks_app.command("watch")
def tasks_watch(task_id: TaskId, output: Output = None, as_json: JsonOut = False,
                timeout: Timeout = None, server: Server = None, data_dir: DataDir = None,
                config: ConfigPath = None) -> None:
    """Follow a task to its end (progress bar); save its result with -o."""
    with _errors(), _connect(server, data_dir, config, run_worker=True) as (client, local):
        task = client.tasks.get(task_id)
        task = _follow(client, task, as_json=as_json, timeout=timeout, in_process=local)
        if output is not None:
            _finish(client, task, output, as_json=as_json)
        elif as_json:
            _print_json(task)
        else:
            typer.echo(describe_task(task))


def register(app: typer.Typer) -> None:
    """Add ``video``, ``image`` and ``tasks`` to the ``framecast`` command."""
    app.command("video")(video)
    app.command("image")(image)
    app.add_typer(tasks_app, name="tasks")


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_UNAVAILABLE", "register"]
