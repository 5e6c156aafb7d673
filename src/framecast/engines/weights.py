"""Where a model's weights are: a local diffusers folder, or a Hugging Face repo id whose
snapshot is in the local hub cache (``HF_HUB_CACHE``, ``HF_HOME/hub`` or
``~/.cache/huggingface/hub``). Nothing here downloads anything: a missing checkpoint is a
``WeightsMissing`` that names the model, what was looked for, and the command that fetches it.
"""

from __future__ import annotations

import os
from pathlib import Path

from framecast.core.errors import ConfigError


class WeightsMissing(ConfigError):
    """A model's weights are not on this machine."""


def fetch_command(weights: str, local_dir: str | None = None) -> str:
    """The command that fetches ``weights`` (a hub id) into the cache or ``local_dir``."""
    target = f" --local-dir {local_dir}" if local_dir else ""
    return f"hf download {weights}{target}"


def is_hub_id(weights: str) -> bool:
    """Whether ``weights`` names a Hugging Face repo (``org/name``) rather than a folder."""
    return weights.count("/") == 1 and not weights.startswith(("/", ".", "~"))


def resolve_weights(weights: str | None, *, model: str, engine: str) -> Path:
    """The local folder holding ``weights``: the folder itself, or the snapshot of a hub id in
    the local Hugging Face cache. ``WeightsMissing`` names the model, what was looked for,
    and the command that fetches it."""
    if not weights:
        raise WeightsMissing(f"model `{model}` (engine {engine}) has no `weights`: set it to a "
                             f"local diffusers folder or a Hugging Face repo id in framecast.toml")
    local = Path(weights).expanduser()
    if local.is_dir():
        if not (local / "model_index.json").is_file():
            raise WeightsMissing(f"model `{model}` (engine {engine}): {local} is not a diffusers "
                                 f"folder (no model_index.json)")
        return local
    if not is_hub_id(weights):
        raise WeightsMissing(f"model `{model}` (engine {engine}): weights folder {local} does "
                             f"not exist; fetch a diffusers checkpoint into it, e.g. "
                             f"`{fetch_command('<org>/<repo>', str(local))}`")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(weights, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as exc:
        raise WeightsMissing(f"model `{model}` (engine {engine}): weights `{weights}` are not in "
                             f"the local Hugging Face cache; fetch them with "
                             f"`{fetch_command(weights)}`") from exc


def hub_cache_dir() -> Path:
    """Where the Hugging Face hub keeps downloaded repos on this machine."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def weights_present(weights: str | None, needs_weights: bool, *,
                    cache_dir: Path | None = None) -> bool:
    """Whether a model's weights are here: none needed, a local folder, or a cached repo."""
    if not needs_weights:
        return True
    if not weights:
        return False
    local = Path(weights).expanduser()
    if local.is_dir():
        return True
    if not is_hub_id(weights):
        return False      # a path that does not exist (not a repo id)
    repo = (cache_dir or hub_cache_dir()) / ("models--" + weights.replace("/", "--"))
    snapshots = repo / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())
