"""The model registry: which engine (and weights) serves each model id a client may send.

``framecast.toml`` (path from ``--config`` / ``FRAMECAST_CONFIG``) holds ``[[models]]`` tables::

    [[models]]
    id = "wan22-i2v"                 # the canonical id
    kind = "video"                   # video | image
    engine = "wan_i2v"               # a built-in engine name or "module:Class"
    weights = "/models/Wan2.2-I2V"   # a local folder or a hub id (unused by CPU engines)
    aliases = ["doubao-seedance-1-0-pro-250528"]
    size_family = "seedance-1.0"     # seedance-1.0 | seedance-1.5 (video pixel tables)
    default_resolution = "720p"
    resolutions = ["480p", "720p"]   # capability limits (optional)
    default_size = "1024x1024"       # images
    image_family = "seedream-4.0"    # generic | seedream-4.0 | seedream-4.5 | seedream-5.0
    contract = "seedance-2.5"        # video: the vendor's rules it follows (VIDEO_CONTRACTS)
    [models.options]                 # passed to the engine as-is
    dtype = "bfloat16"

Built-in defaults make every Seedance and Seedream id named by the vendors' APIs (Ark in both
Volcengine and BytePlus spellings, AI/ML API, Wiro) an alias of ``motion`` (video) or
``testcard`` (image). Entries in the file win over built-ins with the same id or alias.
Lookup is case-insensitive.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framecast.core.errors import ConfigError, NotFound
from framecast.core.sizes import IMAGE_FAMILY_NAMES, RESOLUTIONS, SIZE_FAMILIES


@dataclass(frozen=True)
class VideoContract:
    """What one Seedance generation accepts, as the vendor documents it: the durations
    (``auto``: ``-1``, "the model decides", allowed), whether it renders drafts, its
    ``generate_audio`` default, and whether it takes 2.x reference media and task types."""

    name: str
    durations: tuple[int, int] = (2, 12)
    auto_duration: bool = True
    draft: bool = False
    generate_audio: bool = False
    task_types: bool = False          # omni_reference_task_type (Seedance 2.x)
    # reference clips (video_url / audio_url): how many of each, each clip's length, the
    # seconds of each kind together, and whether audio may be the only reference
    reference_videos: int = 0
    reference_audios: int = 0
    clip_seconds: tuple[float, float] = (2.0, 30.0)
    clips_total_s: float = 30.0
    audio_alone: bool = False


# docs/ark.md "Models" says where each line comes from (the vendors' pages and resellers').
VIDEO_CONTRACTS: dict[str, VideoContract] = {c.name: c for c in (
    VideoContract("seedance-1.0"),
    VideoContract("seedance-1.5-pro", durations=(4, 12), draft=True),
    VideoContract("seedance-2.0", durations=(4, 15), generate_audio=True, task_types=True,
                  reference_videos=3, reference_audios=3, clip_seconds=(2, 15),
                  clips_total_s=15),
    VideoContract("seedance-2.0-fast", durations=(4, 15), generate_audio=True,
                  task_types=True, reference_videos=3, reference_audios=3,
                  clip_seconds=(2, 15), clips_total_s=15),
    VideoContract("seedance-2.5", durations=(4, 30), draft=True, generate_audio=True,
                  task_types=True, reference_videos=10, reference_audios=10,
                  audio_alone=True),
    VideoContract("seedance-2.5-flash", durations=(4, 30), generate_audio=True,
                  task_types=True, reference_videos=10, reference_audios=10,
                  audio_alone=True),
)}


@dataclass
class ModelEntry:
    """One configured model."""

    id: str
    kind: str
    engine: str
    weights: str | None = None
    aliases: list[str] = field(default_factory=list)
    size_family: str = "seedance-1.0"
    default_resolution: str = "720p"
    resolutions: list[str] = field(default_factory=lambda: list(RESOLUTIONS))
    default_size: str = "1024x1024"
    image_family: str = "generic"      # sizes, presets and image sets (core/sizes.py)
    contract: str = "seedance-1.0"     # a video model's rules (VIDEO_CONTRACTS)
    options: dict[str, Any] = field(default_factory=dict)
    builtin: bool = False

    def engine_options(self) -> dict[str, Any]:
        """What the engine is built with: the entry's options plus its ``weights`` and, for
        engines that hold weights, the model id (for error messages)."""
        options = dict(self.options)
        if self.weights:
            options.setdefault("weights", self.weights)
            options.setdefault("model", self.id)
        return options

    @property
    def names(self) -> list[str]:
        """The id and every alias."""
        return [self.id, *self.aliases]

    @property
    def rules(self) -> VideoContract:
        """The video contract this model follows."""
        return VIDEO_CONTRACTS[self.contract]


def _video(id_: str, family: str, resolution: str, aliases: list[str],
           resolutions: tuple[str, ...] = RESOLUTIONS,
           contract: str = "seedance-1.0") -> ModelEntry:
    return ModelEntry(id=id_, kind="video", engine="motion", aliases=aliases, size_family=family,
                      default_resolution=resolution, resolutions=list(resolutions),
                      contract=contract, builtin=True)


def _image(id_: str, size: str, aliases: list[str], family: str = "generic") -> ModelEntry:
    return ModelEntry(id=id_, kind="image", engine="testcard", aliases=aliases, default_size=size,
                      image_family=family, builtin=True)


BUILTIN_MODELS: list[ModelEntry] = [
    _video("seedance-1-0-pro", "seedance-1.0", "1080p", [
        "seedance-1-0-pro-250528", "doubao-seedance-1-0-pro-250528",
        "bytedance/seedance-1-0-pro-i2v", "bytedance/seedance-1-0-pro-t2v"]),
    _video("seedance-1-0-pro-fast", "seedance-1.0", "1080p", [
        "seedance-1-0-pro-fast-251015", "doubao-seedance-1-0-pro-fast-251015",
        "bytedance/seedance-1-0-pro-fast"]),
    _video("seedance-1-0-lite-i2v", "seedance-1.0", "720p", [
        "seedance-1-0-lite-i2v-250428", "doubao-seedance-1-0-lite-i2v-250428",
        "bytedance/seedance-1-0-lite-i2v"]),
    _video("seedance-1-0-lite-t2v", "seedance-1.0", "720p", [
        "seedance-1-0-lite-t2v-250428", "doubao-seedance-1-0-lite-t2v-250428",
        "bytedance/seedance-1-0-lite-t2v"]),
    _video("seedance-1-5-pro", "seedance-1.5", "720p", [
        "seedance-1-5-pro-251215", "doubao-seedance-1-5-pro-251215", "bytedance/seedance-1-5-pro"],
        contract="seedance-1.5-pro"),
    _video("seedance-2-0", "seedance-1.5", "720p", [
        "dreamina-seedance-2-0-260128", "doubao-seedance-2-0-260128"], contract="seedance-2.0"),
    _video("seedance-2-0-fast", "seedance-1.5", "720p", [
        "dreamina-seedance-2-0-fast-260128", "doubao-seedance-2-0-fast-260128"],
        resolutions=("480p", "720p"),
        contract="seedance-2.0-fast"),
    _video("seedance-2-5", "seedance-1.5", "720p", [
        "dreamina-seedance-2-5-260628", "doubao-seedance-2-5-260628"], contract="seedance-2.5"),
    _video("seedance-2-5-flash", "seedance-1.5", "720p", [
        "dreamina-seedance-2-5-flash-260628", "doubao-seedance-2-5-flash-260628"],
        contract="seedance-2.5-flash"),
    _video("image-to-video-seedance-v1", "seedance-1.0", "480p", [
        "bytedance/image-to-video-seedance-v1"], resolutions=("480p", "720p")),
    _video("text-to-video-seedance-v1", "seedance-1.0", "480p", [
        "bytedance/text-to-video-seedance-v1"], resolutions=("480p", "720p")),
    _image("seedream-3-0-t2i", "1024x1024", [
        "seedream-3-0-t2i-250415", "doubao-seedream-3-0-t2i-250415", "bytedance/seedream-3.0",
        "bytedance/text-to-image-seedream-v3"]),
    _image("seededit-3-0-i2i", "1024x1024", [
        "seededit-3-0-i2i-250628", "doubao-seededit-3-0-i2i-250628"]),
    # Ark's Seedream 4.x/5.0 ids follow Ark's sizes, presets and image sets; the resellers'
    # ids (AI/ML API, Wiro) keep the sizes their own APIs document (docs/aiml.md, wiro.md)
    _image("seedream-4-0", "2048x2048", [
        "seedream-4-0-250828", "doubao-seedream-4-0-250828"], "seedream-4.0"),
    _image("seedream-4-0-resold", "2048x2048", [
        "bytedance/seedream-v4-text-to-image", "bytedance/seedream-v4-edit",
        "bytedance/text-to-image-seedream-v4"]),
    _image("seedream-4-5", "2048x2048", [
        "seedream-4-5-251128", "doubao-seedream-4-5-251128"], "seedream-4.5"),
    _image("seedream-4-5-resold", "2048x2048", [
        "bytedance/seedream-4-5", "bytedance/seedream-v4-5"]),
    _image("seedream-5-0", "2048x2048", [
        "seedream-5-0-260128", "doubao-seedream-5-0-260128", "seedream-5-0-lite-260128",
        "doubao-seedream-5-0-lite-260128"], "seedream-5.0"),
]


class Registry:
    """Resolves a client's model id to a ``ModelEntry``."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self.entries = entries
        self._by_name: dict[str, ModelEntry] = {}
        # built-ins first so configured entries override them
        for entry in sorted(entries, key=lambda e: not e.builtin):
            for name in entry.names:
                self._by_name[name.lower()] = entry

    @classmethod
    def load(cls, path: Path | None) -> Registry:
        """Built-in defaults plus the ``[[models]]`` of ``path`` (when given)."""
        entries = list(BUILTIN_MODELS)
        if path is not None:
            entries += parse_config(path)
        return cls(entries)

    def resolve(self, model: str, *, kind: str | None = None) -> ModelEntry:
        """The entry serving ``model``; ``NotFound`` (param ``model``) when none does."""
        entry = self._by_name.get(model.strip().lower())
        if entry is None or (kind is not None and entry.kind != kind):
            what = f"{kind} model" if kind else "model"
            raise NotFound(f"The {what} `{model}` does not exist or you do not have access to it.",
                           param="model", code="InvalidEndpointOrModel.NotFound")
        return entry

    def engines(self) -> set[str]:
        """Every engine name some entry uses."""
        return {e.engine for e in self.entries}


def parse_config(path: Path) -> list[ModelEntry]:
    """Read the ``[[models]]`` tables of a ``framecast.toml``; ``ConfigError`` on mistakes."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    entries = []
    for n, table in enumerate(data.get("models", [])):
        where = f"{path}: [[models]] #{n + 1}"
        missing = [k for k in ("id", "kind", "engine") if k not in table]
        if missing:
            raise ConfigError(f"{where} lacks {', '.join(missing)}")
        if table["kind"] not in ("video", "image"):
            raise ConfigError(f"{where}: kind must be video or image, got {table['kind']!r}")
        family = table.get("size_family", "seedance-1.0")
        if family not in SIZE_FAMILIES:
            raise ConfigError(f"{where}: size_family must be one of {SIZE_FAMILIES}")
        contract = table.get("contract", "seedance-1.0")
        if contract not in VIDEO_CONTRACTS:
            raise ConfigError(f"{where}: contract must be one of {', '.join(VIDEO_CONTRACTS)}")
        image_family = table.get("image_family", "generic")
        if image_family not in IMAGE_FAMILY_NAMES:
            raise ConfigError(f"{where}: image_family must be one of {IMAGE_FAMILY_NAMES}")
        known = {"id", "kind", "engine", "weights", "aliases", "size_family", "default_resolution",
                 "resolutions", "default_size", "image_family", "contract", "options"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(unknown)}")
        entries.append(ModelEntry(
            id=table["id"], kind=table["kind"], engine=table["engine"],
            weights=table.get("weights"), aliases=list(table.get("aliases", [])),
            size_family=family, default_resolution=table.get("default_resolution", "720p"),
            resolutions=list(table.get("resolutions", RESOLUTIONS)),
            default_size=table.get("default_size", "1024x1024"), image_family=image_family,
            contract=contract,
            options=dict(table.get("options", {}))))
    return entries
