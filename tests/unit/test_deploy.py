"""``deploy/``: the images lint clean, every Kubernetes manifest validates (KEDA's objects
against KEDA's own schema), compose.yaml is a valid Compose file, and every command line,
engine and ``FRAMECAST_*`` variable in them is one the server knows.

hadolint and kubernetes-validate come with the test extra; a missing one fails these tests
rather than skipping them, so a build without them cannot pass unchecked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import jsonschema
import pytest
import typer
import yaml

from framecast.api.settings import Settings
from framecast.cli import app
from framecast.engines.base import BUILTIN_ENGINES
from framecast.service.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KEDA_SCHEMAS = K8S / "schemas"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]
KUBERNETES_VERSION = "1.31"
# Applied by hand, not by `kubectl apply -k` (kustomization.yaml says why).
NOT_IN_KUSTOMIZATION = {"secret.example.yaml", "keda.yaml", "keda-prometheus.yaml"}
DRAIN_MARGIN_S = 15           # terminationGracePeriodSeconds >= FRAMECAST_DRAIN_S + this


def default_drain_s() -> float:
    """``FRAMECAST_DRAIN_S`` when a pool leaves it unset."""
    return float(Settings.model_fields["drain_s"].default)


def venv_tool(name: str) -> str:
    """``name`` from this interpreter's bin directory (not whatever PATH finds)."""
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{name} is not installed next to {sys.executable}; it comes with the "
                    "test extra (pip install -e '.[test]')")
    return path


def kubernetes_validate() -> ModuleType:
    """kubernetes-validate's library (its command line passes kinds it has no schema for)."""
    venv_tool("kubernetes-validate")
    from kubernetes_validate import utils

    return utils


def manifests() -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, object) for every object in deploy/k8s/*.yaml but the kustomization."""
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc:
                    yield path.name, doc


def named(kind: str, name: str) -> dict[str, Any]:
    """The one manifest object of ``kind`` called ``name``, from keda.yaml or the others."""
    found = [doc for file, doc in manifests()
             if doc["kind"] == kind and doc["metadata"]["name"] == name
             and file != "keda-prometheus.yaml"]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def container_env(deployment: dict[str, Any]) -> dict[str, str]:
    """The literal ``env`` values of a Deployment's first container."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def worker_deployments() -> list[dict[str, Any]]:
    """The Deployments whose container runs ``framecast worker``: one per pool."""
    return [doc for _, doc in manifests() if doc["kind"] == "Deployment"
            and doc["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def framecast_services() -> dict[str, dict[str, Any]]:
    """The compose services that run a Framecast image (the ones built from deploy/)."""
    return {name: service for name, service in compose()["services"].items()
            if "build" in service}


def engines_in(query: str) -> set[str]:
    """The engine names of a KEDA query's ``engine IN (...)``."""
    match = re.search(r"engine IN \(([^)]*)\)", query)
    assert match, f"no `engine IN (...)` in {query!r}"
    return set(re.findall(r"'([^']+)'", match.group(1)))


@pytest.fixture
def validate(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], None]:
    """Strict validation against Kubernetes 1.31, KEDA's kinds against deploy/k8s/schemas.

    kubernetes-validate reads schemas from its own package only; its lookup is overlaid here
    so that a kind with a vendored schema gets it. A kind with neither raises
    SchemaNotFoundError, which fails the test."""
    utils = kubernetes_validate()
    original = utils.schema_contents

    def schema_contents(filename: str, desired_version: str) -> Any:
        vendored = KEDA_SCHEMAS / Path(filename).name
        if vendored.suffix == ".json" and vendored.exists():
            return json.loads(vendored.read_text(encoding="utf-8"))
        return original(filename, desired_version)

    monkeypatch.setattr(utils, "schema_contents", schema_contents)
    return lambda resource: utils.validate(resource, KUBERNETES_VERSION, strict=True)


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_passes_hadolint(dockerfile: str, tmp_path: Path) -> None:
    # A bare environment: hadolint also reads HADOLINT_* variables and a user's own config.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run(
        [venv_tool("hadolint"), "--no-color", "--failure-threshold", "warning", dockerfile],
        cwd=DEPLOY, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Kubernetes -----------------------------------------------------------------------------


def test_every_manifest_validates(validate: Callable[[dict[str, Any]], None]) -> None:
    checked = []
    for file, doc in manifests():
        validate(doc)
        checked.append(f"{file}:{doc['kind']}")
    assert {"ScaledObject", "TriggerAuthentication", "Deployment"} <= \
        {entry.split(":")[1] for entry in checked}, checked


@pytest.mark.parametrize(("kind", "name", "path", "value"), [
    ("ScaledObject", "framecast-worker-wan", ["spec", "minReplicaCount"], "zero"),
    ("ScaledObject", "framecast-worker-wan", ["spec", "minReplicas"], 0),
    ("ScaledObject", "framecast-worker-cpu", ["metadata", "labelz"], {}),
    ("TriggerAuthentication", "framecast-postgres", ["spec", "secretTargetRef"], "connection"),
])
def test_a_broken_keda_object_is_refused(validate: Callable[[dict[str, Any]], None],
                                         kind: str, name: str, path: list[str],
                                         value: Any) -> None:
    broken = named(kind, name)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(kubernetes_validate().ValidationError):
        validate(broken)


def test_vendored_keda_schemas_are_the_crds_converted() -> None:
    spec = importlib.util.spec_from_file_location("keda_convert", KEDA_SCHEMAS / "convert.py")
    assert spec is not None and spec.loader is not None
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    expected = convert.converted(KEDA_SCHEMAS)
    assert set(expected) == {p.name for p in KEDA_SCHEMAS.glob("*.json")}
    for name, text in expected.items():
        assert (KEDA_SCHEMAS / name).read_text(encoding="utf-8") == text, \
            f"{name} is stale: run .venv/bin/python deploy/k8s/schemas/convert.py"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed <= present
    assert listed | NOT_IN_KUSTOMIZATION == present


def test_worker_pools_match_their_scalers_and_grace_periods() -> None:
    pools = worker_deployments()
    assert len(pools) >= 2
    for deployment in pools:
        name = deployment["metadata"]["name"]
        env = container_env(deployment)
        engines = set(env["FRAMECAST_WORKER_ENGINES"].split(","))
        assert engines <= set(BUILTIN_ENGINES), f"{name}: unknown engines {engines}"
        drain_s = float(env.get("FRAMECAST_DRAIN_S", default_drain_s()))
        grace_s = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace_s >= drain_s + DRAIN_MARGIN_S, name
        scaler = named("ScaledObject", name)
        assert scaler["spec"]["scaleTargetRef"]["name"] == name
        (trigger,) = scaler["spec"]["triggers"]
        assert engines_in(trigger["metadata"]["query"]) == engines, \
            f"{name}: KEDA counts other engines' tasks than the pool runs"


def test_every_configured_engine_has_a_pool(tmp_path: Path) -> None:
    config = tmp_path / "framecast.toml"
    config.write_text(named("ConfigMap", "framecast-config")["data"]["framecast.toml"])
    served = set().union(*(container_env(d)["FRAMECAST_WORKER_ENGINES"].split(",")
                           for d in worker_deployments()))
    unserved = Registry.load(config).engines() - served
    assert not unserved, f"no pool claims the tasks of {unserved}"


def test_prometheus_scaler_counts_the_pools_models() -> None:
    (scaler,) = [doc for file, doc in manifests() if file == "keda-prometheus.yaml"]
    pool = named("Deployment", scaler["spec"]["scaleTargetRef"]["name"])
    engines = set(container_env(pool)["FRAMECAST_WORKER_ENGINES"].split(","))
    config = tomllib.loads(named("ConfigMap", "framecast-config")["data"]["framecast.toml"])
    models = {m["id"] for m in config["models"] if m["engine"] in engines}
    (trigger,) = scaler["spec"]["triggers"]
    match = re.search(r'model=~"([^"]+)"', trigger["metadata"]["query"])
    assert match and set(match.group(1).split("|")) == models


# -- Compose --------------------------------------------------------------------------------


def test_compose_file_is_valid_and_shares_one_environment() -> None:
    document = compose()
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(document)
    shared = document["x-framecast-env"]
    services = framecast_services()
    assert {"api", "worker-motion"} <= set(services)
    for name, service in services.items():
        environment = service["environment"]
        assert {k: environment.get(k) for k in shared} == shared, name
    for name, service in services.items():
        if service["command"][0] == "worker":
            drain_s = float(service["environment"].get("FRAMECAST_DRAIN_S", default_drain_s()))
            grace_s = float(service["stop_grace_period"].removesuffix("s"))
            assert grace_s >= drain_s + DRAIN_MARGIN_S, name


# -- the server's own names -----------------------------------------------------------------


def command_lines() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after `framecast`) for every command line that runs a Framecast image."""
    for dockerfile in DOCKERFILES:
        for line in (DEPLOY / dockerfile).read_text(encoding="utf-8").splitlines():
            if line.startswith("CMD "):
                yield dockerfile, json.loads(line.removeprefix("CMD "))
    for file, doc in manifests():
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield f"{file}:{doc['metadata']['name']}", container["args"]
    for name, service in framecast_services().items():
        yield f"compose.yaml:{name}", service["command"]


def test_every_command_line_parses() -> None:
    group = typer.main.get_command(app)
    seen = set()
    for where, argv in command_lines():
        command = group.commands.get(argv[0])   # type: ignore[attr-defined]
        assert command is not None, f"{where}: no command `framecast {argv[0]}`"
        try:
            command.make_context(argv[0], list(argv[1:]))   # click's parser; nothing runs
        except click.ClickException as exc:
            pytest.fail(f"{where}: framecast {' '.join(argv)}: {exc.format_message()}")
        seen.add("serve --no-worker" if "--no-worker" in argv else argv[0])
    assert {"worker", "serve --no-worker"} <= seen, seen


def test_every_framecast_variable_is_a_setting() -> None:
    prefix = Settings.model_config["env_prefix"]
    settings = {prefix + name.upper() for name in Settings.model_fields}
    paths = [p for p in DEPLOY.rglob("*") if p.is_file() and "schemas" not in p.parts]
    paths.append(ROOT / "docs" / "deploy.md")
    used = {}
    pattern = re.compile(rf"\b{prefix}[A-Z0-9_]*[A-Z0-9]\b")
    for path in paths:
        for variable in pattern.findall(path.read_text(encoding="utf-8")):
            used.setdefault(variable, path.relative_to(ROOT))
    assert len(used) > 10
    unknown = {variable: str(path) for variable, path in used.items() if variable not in settings}
    assert not unknown, f"not fields of framecast.api.settings.Settings: {unknown}"
