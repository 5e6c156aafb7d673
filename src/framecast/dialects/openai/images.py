"""Image wire ⇄ core for the one ``POST /v1/images/generations`` handler that OpenAI and AI/ML
API clients share (Seedream models).

The body is the union of both vendors' fields (``wire.ImageGenerateRequest``):

* ``model``: absent or an OpenAI image model (``dall-e-*``, ``gpt-image-*``) →
  ``seedream-3-0-t2i``; any other id (``bytedance/seedream-3.0``,
  ``bytedance/seedream-v4-text-to-image`` …) is looked up in the registry;
* ``size`` ``WxH`` / ``1K`` / ``2K`` / ``4K`` / ``auto`` (= the model's default), or AI/ML's
  ``image_size``: a preset (``square_hd`` 1024², ``square`` 512², ``portrait_4_3`` 768×1024,
  ``portrait_16_9`` 576×1024, ``landscape_4_3`` 1024×768, ``landscape_16_9`` 1024×576),
  ``2K``/``4K``, or ``{"width", "height"}`` — one of the two, not both;
* ``n`` / ``num_images`` must be 1; ``stream`` is refused; ``output_format`` must be png;
* input images from ``image_urls`` (AI/ML edit models, required on
  ``bytedance/seedream-v4-edit``) or ``image`` (a URL or a list);
* ``watermark`` defaults to false (neither vendor's client expects a mark).
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import ValidationError

from framecast.core import sizes
from framecast.core.errors import EngineFailed, FramecastError, InvalidInput, MissingInput
from framecast.core.spec import ImageInput, ImageSpec
from framecast.core.task import Task, TaskStatus
from framecast.dialects.openai import wire
from framecast.dialects.openai.envelope import error_code, error_type
from framecast.dialects.openai.translate import check_url
from framecast.service.tasks import TaskService

DEFAULT_IMAGE_MODEL = "seedream-3-0-t2i"
OPENAI_IMAGE_MODEL_PREFIXES: tuple[str, ...] = ("dall-e", "gpt-image")
EDIT_MODELS = frozenset({"bytedance/seedream-v4-edit"})
IMAGE_FILE = "image.png"
MAX_INPUT_IMAGES = 14
OUTPUT_FORMATS: tuple[str, ...] = ("png",)
IMAGE_SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024), "square": (512, 512),
    "portrait_4_3": (768, 1024), "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
}


def image_model(model: str | None) -> str:
    """The Seedream model for a requested id (OpenAI names and no name → the default)."""
    name = (model or "").strip()
    if not name or name.lower().startswith(OPENAI_IMAGE_MODEL_PREFIXES):
        return DEFAULT_IMAGE_MODEL
    return name


def image_spec_from_wire(req: wire.ImageGenerateRequest) -> ImageSpec:
    """Build the canonical ``ImageSpec`` (``InvalidInput`` naming the field)."""
    model = image_model(req.model)
    if not req.prompt.strip():
        raise MissingInput("'prompt' must not be empty.", param="prompt")
    for name in ("n", "num_images"):
        count = getattr(req, name)
        if count is not None and count != 1:
            raise InvalidInput(f"Invalid value for '{name}': this server generates one image "
                               f"per request, got {count}.", param=name)
    if req.stream:
        raise InvalidInput("Streaming is not supported for image generation on this server.",
                           param="stream")
    if req.output_format is not None and req.output_format.lower() not in OUTPUT_FORMATS:
        raise InvalidInput(f"Invalid value for 'output_format': only png is produced, got "
                           f"{req.output_format!r}.", param="output_format")
    images: list[ImageInput] = []
    for param, url in input_urls(req):
        check_url(url, param)
        images.append(ImageInput(role="reference_image", url=url, param=param))
    if len(images) > MAX_INPUT_IMAGES:
        raise InvalidInput(f"At most {MAX_INPUT_IMAGES} input images are allowed, got "
                           f"{len(images)}.", param="image_urls")
    if model.lower() in EDIT_MODELS and not images:
        raise MissingInput(f"Missing required parameter: 'image_urls' (model {model} edits "
                           "images).", param="image_urls")
    fields = {"size": image_size(req), "seed": req.seed, "guidance_scale": req.guidance_scale,
              "response_format": req.response_format}
    try:
        return ImageSpec(model=model, prompt=req.prompt, images=images,
                         watermark=bool(req.watermark),
                         **{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:   # a length cap or a literal of the spec
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        raise InvalidInput(f"Invalid value for '{name}': {first['msg']}.", param=name) \
            from None


def input_urls(req: wire.ImageGenerateRequest) -> list[tuple[str, str]]:
    """(param, url) of every input image, from ``image_urls`` or ``image`` (not both)."""
    if req.image_urls and req.image:
        raise InvalidInput("Give input images in 'image_urls' or 'image', not both.",
                           param="image")
    if req.image_urls:
        return [(f"image_urls[{i}]", url) for i, url in enumerate(req.image_urls)]
    if isinstance(req.image, str):
        return [("image", req.image)]
    return [(f"image[{i}]", url) for i, url in enumerate(req.image or [])]


def image_size(req: wire.ImageGenerateRequest) -> str | None:
    """The requested size as ``WxH`` or a preset, checked (``None`` = the model's default)."""
    size = req.size.strip() if req.size else None
    if size is not None and size.lower() == "auto":
        size = None
    if req.image_size is not None:
        if size is not None:
            raise InvalidInput("Give either 'size' or 'image_size', not both.",
                               param="image_size")
        given = req.image_size
        if isinstance(given, wire.ImageSize):
            size = f"{given.width}x{given.height}"
        elif given.strip().lower() in IMAGE_SIZE_PRESETS:
            size = "{}x{}".format(*IMAGE_SIZE_PRESETS[given.strip().lower()])
        elif given.strip().upper() in sizes.IMAGE_PRESETS:
            size = given.strip().upper()
        else:
            raise InvalidInput(f"Invalid value for 'image_size': expected one of "
                               f"{', '.join(IMAGE_SIZE_PRESETS)}, 2K, 4K or "
                               f"{{width, height}}, got {given[:40]!r}.", param="image_size")
        sizes.parse_image_size(size, param="image_size")
    elif size is not None:
        sizes.parse_image_size(size, param="size")
    return size


# -- responses --------------------------------------------------------------------------


def image_output_name(task: Task) -> str | None:
    """The name of the task's image output (``image.png`` or its first image file)."""
    if task.output(IMAGE_FILE):
        return IMAGE_FILE
    return next((o.name for o in task.outputs if o.content_type.startswith("image/")), None)


def image_item(*, url: str | None, data: bytes | None) -> wire.ImageItem:
    """One ``data`` item: the signed URL, or the PNG as base64."""
    if data is not None:
        return wire.ImageItem(b64_json=base64.b64encode(data).decode("ascii"))
    return wire.ImageItem(url=url)


def images_response(task: Task, item: wire.ImageItem) -> wire.ImagesResponse:
    """The synchronous reply for a succeeded image task."""
    created = int(task.finished_at or task.updated_at or task.created_at)
    return wire.ImagesResponse(created=created, data=[item], meta=wire.ImageMeta(
        usage=wire.ImageUsage(credits_used=task.usage_tokens)))


def image_task_error(task: Task, wait_s: float) -> FramecastError:
    """The error to answer for an image task that did not succeed (or did not finish)."""
    if not task.terminal:
        return EngineFailed(f"The image was not generated within {wait_s:g} s.",
                            code="RequestTimeout", task_id=task.id)
    code = task.error_code or "InternalServiceError"
    message = task.error_message or f"The image generation ended {task.status.value}."
    if code in (InvalidInput.code, MissingInput.code):
        return InvalidInput(message, code=code, param="image" if task.spec.get("images")
                            else "prompt", task_id=task.id)
    return EngineFailed(message, code=code, task_id=task.id)


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """An image task as the images reply (with a URL), or ``{"error": …}`` if it failed."""
    if task.status == TaskStatus.SUCCEEDED:
        name = image_output_name(task) or IMAGE_FILE
        item = image_item(url=service.file_url(task, name), data=None)
        return images_response(task, item).model_dump(mode="json")
    error = image_task_error(task, 0)
    return {"error": {"message": error.message, "type": error_type(error.status),
                      "param": error.param, "code": error_code(error.code)}}
