"""``seedance_generate_video_from_image``: AceDataCloud's MCP tool, served by Framecast.

The parameters (names, types, defaults, descriptions) and the description are exactly those of
``mcp-seedance`` 2026.4.30.0 (``tools/video_tools.py``; seed 004), so an agent prompted for that
server calls this one the same way. Its validation answers the same ``Error: ...`` texts; they
come back as ``isError`` results because a successful result must match ``outputSchema``.
Two rules are added: ``frames`` must be 25+4n within [29, 289] (the tool's own description
says so; that release did not check it), and ``callback_url`` must be an http(s) URL.

Unlike ``mcp-seedance``, the answer is structured (a ``TaskResult``) and the task runs in this
process's Framecast. It answers at once with the queued task; ``wait_for_task`` waits for it
with progress notifications. Tasks are recorded under the ``acedata`` dialect, so a
``callback_url`` receives AceData's callback body, as it would from the tool's own service.
"""

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field, ValidationError

from framecast.core import sizes
from framecast.core.errors import FramecastError
from framecast.core.spec import ImageInput, VideoSpec
from framecast.mcp.results import CallerOf, TaskResult, error_answer, task_answer

SeedanceModel = Literal[
    "doubao-seedance-1-5-pro-251215",
    "doubao-seedance-1-0-pro-250528",
    "doubao-seedance-1-0-pro-fast-251015",
    "doubao-seedance-1-0-lite-t2v-250428",
    "doubao-seedance-1-0-lite-i2v-250428",
]
AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"]
Resolution = Literal["480p", "720p", "1080p"]
ServiceTier = Literal["default", "flex"]

DEFAULT_MODEL: SeedanceModel = "doubao-seedance-1-0-pro-250528"
DEFAULT_RESOLUTION: Resolution = "720p"
DEFAULT_RATIO: AspectRatio = "16:9"
DEFAULT_DURATION = 5
DIALECT = "acedata"     # callbacks of tasks made by this tool take AceData's shape


# `mcp-seedance`'s docstring as its tool description, byte for byte (indentation included).
DESCRIPTION = """Generate AI video using reference images with ByteDance Seedance.

    This allows you to control the video by specifying first frame, last frame,
    or reference images. Seedance will generate smooth motion based on the inputs.

    Use this when:
    - You have a specific image you want to animate
    - You want to create a video transition between two images
    - You need style guidance from reference images
    - You need precise control over the video's visual content

    Note: reference_image_urls cannot be combined with first_frame_url/last_frame_url.
    At least one image input must be provided.

    Returns:
        Task ID and generated video information including URLs and metadata.
    """


def make_tool(caller_of: CallerOf) -> Any:
    """The tool function, bound to how a call finds its caller (service and owner)."""

    async def seedance_generate_video_from_image(
        prompt: Annotated[
            str,
            Field(
                description=(
                    "Description of the video motion and content. "
                    "Describe what should happen in the video, "
                    "how objects should move, what transitions to include."
                )
            ),
        ],
        first_frame_url: Annotated[
            str,
            Field(
                description=(
                    "URL of the image to use as the first frame of the video. "
                    "The video will animate from this image. "
                    "Supports https:// URLs or base64 data:image/... URIs."
                )
            ),
        ] = "",
        last_frame_url: Annotated[
            str,
            Field(
                description=(
                    "URL of the image to use as the last frame of the video. "
                    "The video will animate towards this image. "
                    "Supports https:// URLs or base64 data:image/... URIs."
                )
            ),
        ] = "",
        reference_image_urls: Annotated[
            list[str],
            Field(
                description=(
                    "List of reference image URLs for style/content guidance. "
                    "These images influence the look but are not used as frames. "
                    "Cannot be combined with first_frame_url or last_frame_url."
                )
            ),
        ] = [],  # noqa: B006  (the vendor's default; never mutated)
        model: Annotated[
            SeedanceModel,
            Field(
                description=(
                    "Model version to use. "
                    "For image-to-video, consider 'doubao-seedance-1-0-lite-i2v-250428' "
                    "for lightweight I2V, or any Pro model for higher quality."
                )
            ),
        ] = DEFAULT_MODEL,
        resolution: Annotated[
            Resolution,
            Field(description="Video resolution. Options: '480p', '720p', '1080p'."),
        ] = DEFAULT_RESOLUTION,
        ratio: Annotated[
            AspectRatio,
            Field(description="Video aspect ratio. Use 'adaptive' to match your input image "
                              "ratio."),
        ] = DEFAULT_RATIO,
        duration: Annotated[
            int | None,
            Field(
                description=(
                    "Video duration in seconds. Range: 2-12. Default is 5. "
                    "Mutually exclusive with 'frames'."
                ),
                ge=2,
                le=12,
            ),
        ] = None,
        frames: Annotated[
            int | None,
            Field(
                description=(
                    "Frame count for the generated video. "
                    "Must satisfy 25+4n (e.g. 29, 33, 37, ..., 289). "
                    "Mutually exclusive with 'duration'."
                ),
            ),
        ] = None,
        generate_audio: Annotated[
            bool,
            Field(description="If true, generate audio. Only supported by 1.5 Pro model. "
                              "Default is false."),
        ] = False,
        service_tier: Annotated[
            ServiceTier,
            Field(description="Service tier. 'default' or 'flex' (50%% cheaper). "
                              "Default is 'default'."),
        ] = "default",
        seed: Annotated[
            int,
            Field(description="Random seed. -1 for random. Default is -1.", ge=-1,
                  le=4294967295),
        ] = -1,
        return_last_frame: Annotated[
            bool,
            Field(description="If true, return the last frame of the generated video. "
                              "Default is false."),
        ] = False,
        callback_url: Annotated[
            str | None,
            Field(description="Webhook callback URL for asynchronous notifications."),
        ] = None,
        execution_expires_after: Annotated[
            int,
            Field(description="Task timeout threshold in seconds. Default is 172800 "
                              "(48 hours)."),
        ] = 172800,
        *,
        ctx: Context,
    ) -> Annotated[CallToolResult, TaskResult]:
        """The tool; its description is ``DESCRIPTION``."""
        problem = check_arguments(first_frame_url, last_frame_url, reference_image_urls,
                                  duration, frames, callback_url)
        if problem is not None:
            return error_answer(problem)
        images = [ImageInput(role="first_frame", url=first_frame_url, param="first_frame_url")
                  ] if first_frame_url else []
        if last_frame_url:
            images.append(ImageInput(role="last_frame", url=last_frame_url,
                                     param="last_frame_url"))
        images += [ImageInput(role="reference_image", url=url,
                              param=f"reference_image_urls[{n}]")
                   for n, url in enumerate(reference_image_urls)]
        caller = caller_of(ctx)
        try:
            spec = VideoSpec(
                model=model, prompt=prompt, images=images, resolution=resolution, ratio=ratio,
                frames=frames, duration=None if frames is not None else
                (duration if duration is not None else DEFAULT_DURATION),
                generate_audio=generate_audio, service_tier=service_tier,
                seed=None if seed == -1 else seed, return_last_frame=return_last_frame,
                callback_url=callback_url or None,
                execution_expires_after=execution_expires_after)
            task = await caller.service.create_video(spec, owner_id=caller.owner_id,
                                                     dialect=DIALECT)
        except ValidationError as exc:
            first = exc.errors()[0]
            return error_answer(f"`{first['loc'][0] if first['loc'] else 'arguments'}`: "
                                f"{first['msg']}")
        except FramecastError as exc:
            return error_answer(exc.message)
        return task_answer(task, caller)

    return seedance_generate_video_from_image


def check_arguments(first_frame_url: str, last_frame_url: str, reference_image_urls: list[str],
                    duration: int | None, frames: int | None,
                    callback_url: str | None = None) -> str | None:
    """``mcp-seedance``'s checks, in its order and words, then the ``frames`` rule and the
    ``callback_url`` scheme; the first problem found, or ``None``."""
    if not first_frame_url and not last_frame_url and not reference_image_urls:
        return ("Error: At least one of first_frame_url, last_frame_url, "
                "or reference_image_urls must be provided.")
    if reference_image_urls and (first_frame_url or last_frame_url):
        return ("Error: reference_image_urls cannot be combined with first_frame_url or "
                "last_frame_url.")
    if frames is not None and duration is not None:
        return "Error: 'frames' and 'duration' are mutually exclusive. Provide only one."
    if frames is not None and (not sizes.FRAMES_MIN <= frames <= sizes.FRAMES_MAX
                               or (frames - 25) % 4):
        return (f"Error: 'frames' must satisfy 25+4n within [{sizes.FRAMES_MIN}, "
                f"{sizes.FRAMES_MAX}] (29, 33, 37, ..., 289), got {frames}.")
    if callback_url:
        parts = urlsplit(callback_url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            return "Error: 'callback_url' must be an http(s) URL."
    return None
