"""Turn the CustomResourceDefinitions in this folder into the strict JSON schemas that
kubernetes-validate reads, one file per kind and version, named as its own are
(``scaledobject-keda-v1alpha1.json``: kind, API group up to its first dot, version).

    python deploy/k8s/schemas/convert.py          # rewrites the .json files from the CRDs

What changes from a CRD's ``openAPIV3Schema``:

- ``apiVersion`` and ``kind`` accept only this kind's values, and ``metadata`` refers to
  Kubernetes' ObjectMeta in kubernetes-validate's ``_definitions.json``, as its own schemas do.
- Strict, as ``kubernetes-validate --strict``: an object schema that lists its properties
  refuses others (``additionalProperties: false``), unless it keeps unknown fields
  (``x-kubernetes-preserve-unknown-fields``).

Everything else is kept as written. The ``x-kubernetes-validations`` (CEL) rules stay
unchecked: JSON Schema has no CEL.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
OBJECT_META = "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``additionalProperties: false`` on every object that lists its
    properties and does not preserve unknown fields (recursing through subschemas only, so a
    property that happens to be named ``items`` or ``type`` is never taken for a keyword)."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {name: strict(sub) for name, sub in out["properties"].items()}
        if ("additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in out:
            out[keyword] = [strict(sub) for sub in out[keyword]]
    if isinstance(out.get("not"), dict):
        out["not"] = strict(out["not"])
    return out


def schemas_from_crd(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """kubernetes-validate's file name → strict schema, for each served version of ``crd``."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    out = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        name = version["name"]
        schema = strict(version["schema"]["openAPIV3Schema"])
        properties = schema["properties"]
        properties["apiVersion"] = {**properties["apiVersion"], "enum": [f"{group}/{name}"]}
        properties["kind"] = {**properties["kind"], "enum": [kind]}
        properties["metadata"] = {"$ref": OBJECT_META}
        short_group = group.split(".")[0]
        out[f"{kind.lower()}-{short_group}-{name}.json"] = {
            "$schema": JSON_SCHEMA,
            "$id": f"https://kubernetes.io/api/{kind.lower()}/{short_group}/{name}",
            **schema,
            "x-kubernetes-group-version-kind": [
                {"group": group, "kind": kind, "version": name}],
        }
    return out


def converted(folder: Path = HERE) -> dict[str, str]:
    """File name → JSON text, for every CRD (``*.yaml``) in ``folder``."""
    out = {}
    for path in sorted(folder.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, schema in schemas_from_crd(crd).items():
            out[name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def main() -> int:
    """Write the schemas next to the CRDs."""
    for name, text in converted().items():
        (HERE / name).write_text(text)
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
