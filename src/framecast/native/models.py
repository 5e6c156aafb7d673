"""``GET /framecast/v1/models``: the configured models, their engines, capabilities, and
whether their weights are on this machine.

``weights_present`` is true for engines that need no weights (the CPU engines, whatever their
entry says); otherwise the ``weights`` of the entry must be a local folder that exists, or a
Hugging Face repo id whose snapshot is in the local hub cache (``HF_HUB_CACHE``,
``HF_HOME/hub`` or ``~/.cache/huggingface/hub``). Nothing is downloaded or imported from the
hub to answer.
"""

from __future__ import annotations

from framecast.core.errors import ConfigError, NotFound
from framecast.core.sizes import RESOLUTIONS
from framecast.engines.base import Capabilities, engine_class
from framecast.engines.weights import fetch_command, hub_cache_dir, is_hub_id, weights_present
from framecast.native import wire
from framecast.service.registry import ModelEntry, Registry


def missing_weights(registry: Registry, engines: set[str] | None = None) -> list[str]:
    """One message per configured model whose engine needs weights that are not on this
    machine: the model, the path or hub id, and the command that fetches them. ``engines``:
    only the models of these engines (a worker pool's)."""
    problems = []
    for entry in registry.entries:
        if engines is not None and entry.engine not in engines:
            continue
        caps = _capabilities(entry)
        needs = caps.needs_weights if caps is not None else bool(entry.weights)
        if not needs or weights_present(entry.weights, True):
            continue
        where = f"model `{entry.id}` (engine {entry.engine})"
        if not entry.weights:
            problems.append(f"{where} has no `weights`: set a local diffusers folder or a "
                            f"Hugging Face repo id")
        elif not is_hub_id(entry.weights):
            problems.append(f"{where}: weights folder {entry.weights} does not exist; fetch a "
                            f"diffusers checkpoint into it with "
                            f"`{fetch_command('<org>/<repo>', entry.weights)}`")
        else:
            problems.append(f"{where}: weights `{entry.weights}` are not in the Hugging Face "
                            f"cache ({hub_cache_dir()}); fetch them with "
                            f"`{fetch_command(entry.weights)}`")
    return problems


def _capabilities(entry: ModelEntry) -> Capabilities | None:
    try:
        return engine_class(entry.engine).capabilities_for(entry.options)
    except ConfigError:
        return None


def model_info(entry: ModelEntry, names: list[str]) -> wire.ModelInfo:
    """One entry as the endpoint shows it; ``names`` are the ids that resolve to it."""
    caps = _capabilities(entry)
    capabilities = None
    if caps is not None:
        resolutions = [r for r in RESOLUTIONS if r in entry.resolutions and r in caps.resolutions] \
            if entry.kind == "video" else []
        capabilities = wire.ModelCapabilities(
            kinds=sorted(caps.kinds), roles=sorted(caps.roles),
            max_reference_images=caps.max_reference_images, audio=caps.audio,
            fps=sorted(caps.fps), resolutions=resolutions)
    video = entry.kind == "video"
    return wire.ModelInfo(
        id=entry.id, aliases=[n for n in names if n != entry.id],
        kind=entry.kind,  # type: ignore[arg-type]
        engine=entry.engine, size_family=entry.size_family,
        default_resolution=entry.default_resolution if video else None,
        resolutions=list(entry.resolutions) if video else [],
        default_size=None if video else entry.default_size, capabilities=capabilities,
        weights=entry.weights,
        weights_present=weights_present(
            entry.weights, caps.needs_weights if caps is not None else bool(entry.weights)))


def list_models(registry: Registry, kind: str | None = None) -> wire.ModelList:
    """Every model a client can name (an entry overridden by the config file is left out)."""
    data = []
    for entry in registry.entries:
        if kind is not None and entry.kind != kind:
            continue
        names = [n for n in entry.names if _resolves_to(registry, n, entry)]
        if names:
            data.append(model_info(entry, names))
    return wire.ModelList(data=data)


def _resolves_to(registry: Registry, name: str, entry: ModelEntry) -> bool:
    try:
        return registry.resolve(name) is entry
    except NotFound:
        return False
