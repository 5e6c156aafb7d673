"""Wiro wire ⇄ Framecast core: Run parameters become a ``VideoSpec`` / ``ImageSpec``; a task
becomes Wiro's task item (``Task/Detail``), its lifecycle status and its webhook body.

Status (research/api-dialects.md §3.4, §7):

    queued → task_queue; running → task_preprocess_start while the worker prepares the
    inputs, task_start once the engine reports its steps, then task_output once one is done;
    succeeded → task_postprocess_end + pexit "0"; failed → task_postprocess_end + pexit "1"
    (the error in debugerror); cancelled / expired → task_cancel (pexit "1": nothing was
    produced, so a client testing ``pexit == "0"`` never mistakes it for success).

Models: ``/Run/{owner}/{model}`` resolves ``owner/model`` in the registry (case-insensitive:
``ByteDance/...`` and ``bytedance/...`` alike), then ``model`` alone, so a model configured
in ``framecast.toml`` without an owner runs under any owner slug. ``image-to-video-*``
models need an input image, ``text-to-video-*`` refuse one.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from framecast.core import spec as core_spec
from framecast.core.errors import InvalidInput, MissingInput, NotFound
from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
from framecast.core.task import Task, TaskStatus
from framecast.db.task_extras import TaskExtras
from framecast.dialects.wiro import wire
from framecast.dialects.wiro.envelope import NO_MODEL
from framecast.dialects.wiro.params import Params
from framecast.net.fetch import sniff_image_format
from framecast.service.registry import ModelEntry, Registry
from framecast.service.tasks import TaskService

DIALECT = "wiro"
RESOLUTIONS: tuple[str, ...] = ("480p", "720p")
RATIOS: tuple[str, ...] = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21")
DURATIONS: tuple[str, ...] = ("5", "10")
FPS: tuple[str, ...] = ("24", "16")
SEEDREAM_V3_SIZES: tuple[str, ...] = ("1024x1024", "864x1152", "1152x864", "1280x720",
                                      "720x1280", "832x1248", "1248x832", "1512x648")
MAX_INPUT_IMAGES = 14
GUIDANCE_MIN, GUIDANCE_MAX = 1.0, 10.0
IMAGE_SIDE_MIN, IMAGE_SIDE_MAX = 256, 4096
COST_FORMAT = "{:.12f}"
NO_TIME = "0"


@dataclass(frozen=True)
class ModelRef:
    """The model of a Run: the name the registry resolved (stored as the task's model), the
    slugs as the client wrote them, and the entry."""

    name: str
    owner_slug: str
    project_slug: str
    entry: ModelEntry


def resolve_model(registry: Registry, owner_slug: str, project_slug: str) -> ModelRef:
    """``owner/model`` (then ``model`` alone) in the registry; Wiro's not-found otherwise."""
    for name in (f"{owner_slug}/{project_slug}", project_slug):
        try:
            return ModelRef(name, owner_slug, project_slug, registry.resolve(name))
        except NotFound:
            continue
    raise NotFound(f"{NO_MODEL}: this server has no model {owner_slug}/{project_slug}",
                   param="model")


# -- Run parameters → specs -----------------------------------------------------------------


def video_spec(ref: ModelRef, params: Params) -> VideoSpec:
    """Seedance on Wiro: ``inputImageUrl`` (or an ``inputImage`` file / URL), ``prompt``,
    ``resolution``, ``ratio``, ``duration``, ``fps``, ``watermark``, ``seed`` (-1, null or
    empty = random), ``camerafixed``, ``callbackUrl``."""
    slug = ref.project_slug.lower()
    images = _input_images(params, ("inputImage", "inputImageUrl"), "first_frame", limit=1)
    if slug.startswith("image-to-video") and not images:
        raise MissingInput("Request parameter [inputImageUrl] required", param="inputImageUrl")
    if slug.startswith("text-to-video") and images:
        raise InvalidInput(f"Request parameter [{images[0].param}] is not accepted by "
                           f"{ref.owner_slug}/{ref.project_slug} (a text-to-video model)",
                           param=images[0].param)
    prompt = params.text("prompt") or ""
    if not prompt and not images:
        raise MissingInput("Request parameter [prompt] required", param="prompt")
    return _build(VideoSpec, model=ref.name, prompt=prompt, images=images,
                  resolution=params.choice("resolution", RESOLUTIONS, "480p"),
                  ratio=params.choice("ratio", RATIOS, "16:9"),
                  duration=int(params.choice("duration", DURATIONS, "5")),
                  fps=int(params.choice("fps", FPS, "24")),
                  watermark=params.boolean("watermark", False),
                  camera_fixed=params.boolean("camerafixed", False),
                  seed=_seed(params, core_spec.SEED_MAX, zero_is_random=False),
                  callback_url=params.url("callbackUrl"))


def image_spec(ref: ModelRef, params: Params) -> ImageSpec:
    """Seedream on Wiro: ``prompt``, ``size`` (Seedream v3: the eight sizes of its tool page)
    or ``width`` + ``height``, ``guidanceScale``, ``seed`` (0 or -1 = random),
    ``watermark``, ``inputImage`` (files or comma-separated URLs), ``callbackUrl``.
    ``maxImages`` is accepted; one image is generated."""
    prompt = params.required_text("prompt")
    size = params.text("size")
    if "seedream-v3" in ref.project_slug.lower() and size is not None \
            and size not in SEEDREAM_V3_SIZES:
        raise InvalidInput(f"Request parameter [size] must be one of "
                           f"{', '.join(SEEDREAM_V3_SIZES)}", param="size")
    width = params.integer("width", IMAGE_SIDE_MIN, IMAGE_SIDE_MAX)
    height = params.integer("height", IMAGE_SIDE_MIN, IMAGE_SIDE_MAX)
    if (width is None) != (height is None):
        missing = "height" if height is None else "width"
        raise MissingInput(f"Request parameter [{missing}] required", param=missing)
    if width is not None:
        size = f"{width}x{height}"
    params.integer("maxImages", 1, 15)
    images = _input_images(params, ("inputImage", "inputImageUrl"), "reference_image",
                           limit=MAX_INPUT_IMAGES)
    return _build(ImageSpec, model=ref.name, prompt=prompt, images=images, size=size,
                  guidance_scale=params.number("guidanceScale", GUIDANCE_MIN, GUIDANCE_MAX),
                  seed=_seed(params, core_spec.IMAGE_SEED_MAX, zero_is_random=True),
                  watermark=params.boolean("watermark", False),
                  callback_url=params.url("callbackUrl"))


def _seed(params: Params, high: int, *, zero_is_random: bool) -> int | None:
    text = params.text("seed")
    if text is None or text.lower() == "false":   # the tool pages' default is "false"
        return None
    seed = params.integer("seed", -1, high)
    return None if seed == -1 or (zero_is_random and seed == 0) else seed


def _input_images(params: Params, names: tuple[str, str], role: str, *,
                  limit: int) -> list[ImageInput]:
    """File parts of ``names[0]``, then URLs in ``names[0]`` / ``names[1]`` (comma-separated
    lists allowed), as inputs with ``role``; the service fetches and checks them."""
    file_name, url_name = names
    images = [ImageInput(role=role, url=_data_uri(u.data), param=file_name)   # type: ignore[arg-type]
              for u in params.files.get(file_name, [])]
    for name in (url_name, file_name):
        for part in split_urls(params.text(name) or ""):
            url = Params(values={name: part}).url(name, data_uri=True)
            images.append(ImageInput(role=role, url=url or part, param=name))  # type: ignore[arg-type]
    if len(images) > limit:
        raise InvalidInput(f"Request parameter [{url_name}] takes at most {limit} image"
                           f"{'s' if limit > 1 else ''}, got {len(images)}", param=url_name)
    return images


def split_urls(text: str) -> list[str]:
    """A comma-separated list of URLs, where a ``data:`` URI keeps the comma between its
    header and its payload (``data:image/png;base64,iVBOR…``)."""
    parts = [part.strip() for part in text.split(",")]
    urls: list[str] = []
    while parts:
        part = parts.pop(0)
        if part[:5].lower() == "data:" and parts:
            part = f"{part},{parts.pop(0)}"
        if part:
            urls.append(part)
    return urls


def _data_uri(data: bytes) -> str:
    """An uploaded file as a data URI; its real format is checked by the service."""
    image_format = sniff_image_format(data) or "png"
    return f"data:image/{image_format};base64,{base64.b64encode(data).decode()}"


def _build(cls: type[VideoSpec] | type[ImageSpec], **fields: Any) -> Any:
    """Construct a spec; a rule of the core spec becomes ``InvalidInput`` on its field."""
    from pydantic import ValidationError

    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        raise InvalidInput(f"Request parameter [{name}] is not valid: {first['msg']}",
                           param=name) from None


def price(spec: VideoSpec | ImageSpec, video_per_s: dict[str, float],
          per_image: float) -> float:
    """What a task of the resolved ``spec`` costs once it succeeds (USD), fixed when it is
    created."""
    if isinstance(spec, ImageSpec):
        return per_image
    seconds = spec.duration or ((spec.frames_total or 1) - 1) / (spec.fps or 24)
    return video_per_s.get(str(spec.resolution), 0.0) * float(seconds)


# -- a task on the wire ---------------------------------------------------------------------


def wiro_status(task: Task) -> str:
    """The Wiro status of a task (see the module docstring): a running task is preparing its
    inputs (``task_preprocess_start``) until its engine reports its first step."""
    if task.status == TaskStatus.QUEUED:
        return "task_queue"
    if task.status == TaskStatus.RUNNING:
        if not task.total_steps:
            return "task_preprocess_start"
        return "task_output" if task.step > 0 else "task_start"
    if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
        return "task_postprocess_end"
    return "task_cancel"


def pexit(task: Task) -> str:
    """``"0"`` succeeded, ``"1"`` failed / cancelled / expired, ``""`` not finished."""
    if not task.terminal:
        return ""
    return "0" if task.status == TaskStatus.SUCCEEDED else "1"


def percentage(task: Task) -> int:
    """Progress as a whole percentage (100 once succeeded)."""
    if task.status == TaskStatus.SUCCEEDED:
        return 100
    return max(0, min(100, int(task.progress * 100)))


def outputs(task: Task, extras: TaskExtras | None, file_url: Any) -> list[wire.TaskOutput]:
    """The output files of a succeeded task whose files were not deleted."""
    if task.status != TaskStatus.SUCCEEDED or (extras and extras.data.get("files_deleted")):
        return []
    added = _t(task.finished_at)
    return [wire.TaskOutput(id=hashlib.sha1(o.key.encode()).hexdigest()[:32], name=o.name,
                            contenttype=o.content_type, uuid=task.id, size=str(o.size_bytes),
                            addedtime=added, modifiedtime=added,
                            url=file_url(task, o.name) or "")
            for o in task.outputs]


def task_item(task: Task, extras: TaskExtras | None, file_url: Any,
              now: float | None = None) -> wire.TaskItem:
    """Render a task as Wiro's task item; every number a string."""
    data = extras.data if extras else {}
    files = outputs(task, extras, file_url)
    started = task.started_at
    ended = task.finished_at if task.terminal else None
    elapsed = ((ended or now or time.time()) - started) if started else 0.0
    succeeded = task.status == TaskStatus.SUCCEEDED
    cost = float(data.get("price", 0.0)) if succeeded else 0.0
    stopped = task.status in (TaskStatus.CANCELLED, TaskStatus.EXPIRED)
    owner_slug, _, project_slug = task.model.rpartition("/")
    return wire.TaskItem(
        id=task.id, uuid=task.id,
        socketaccesstoken=(extras.access_token or "") if extras else "",
        parameters=data.get("parameters") or {"prompt": task.spec.get("prompt", "")},
        debugoutput=debug_output(task), debugerror=debug_error(task),
        starttime=_t(started), endtime=_t(ended), elapsedseconds=f"{max(0.0, elapsed):.4f}",
        status=wiro_status(task),
        cps=COST_FORMAT.format(cost / elapsed if cost and elapsed > 0 else 0.0),
        totalcost=COST_FORMAT.format(cost), projectid=task.owner_id, modelid=task.model,
        callbackurl=task.callback_url or "", createtime=_t(task.created_at),
        canceltime=_t(task.finished_at) if stopped else NO_TIME,
        assigntime=_t(started), accepttime=_t(started), preprocessstarttime=_t(started),
        preprocessendtime=_t(started),
        postprocessstarttime=_t(ended) if ended and not stopped else NO_TIME,
        postprocessendtime=_t(ended) if ended and not stopped else NO_TIME,
        pexit=pexit(task), modeldescription=f"{task.kind} model served by {task.engine}",
        modelslugowner=data.get("slugowner", owner_slug),
        modelslugproject=data.get("slugproject", project_slug), outputs=files,
        size=str(sum(int(f.size) for f in files)), engine=task.engine,
        progress=str(percentage(task)))


def _t(when: float | None) -> str:
    return str(int(when)) if when else NO_TIME


def debug_output(task: Task) -> str:
    """``debugoutput``: progress while running, what was made once succeeded."""
    if task.status == TaskStatus.RUNNING and task.total_steps:
        return f"Generate {task.step}/{task.total_steps}"
    if task.status == TaskStatus.SUCCEEDED:
        names = ", ".join(o.name for o in task.outputs)
        return f"{names} generated by {task.engine} in {task.engine_seconds:.1f} s"
    return ""


def debug_error(task: Task) -> str:
    """``debugerror``: the error of a failed or expired task."""
    if task.status == TaskStatus.FAILED:
        return f"{task.error_code or 'InternalServiceError'}: " \
               f"{task.error_message or 'the task failed'}"
    if task.status == TaskStatus.EXPIRED:
        return task.error_message or "TaskExpired: the task did not finish in time"
    return ""


def detail(items: list[wire.TaskItem], total: int | None = None) -> wire.TaskListResponse:
    """``Task/Detail`` / ``Task/List``: the items and their total, as strings."""
    return wire.TaskListResponse(total=str(len(items) if total is None else total),
                                 tasklist=items)


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """The ``callbackUrl`` body: the ``Task/Detail`` response for the task."""
    extras = service.record_of(task.id)
    return detail([task_item(task, extras, service.file_url)]).model_dump(mode="json")
