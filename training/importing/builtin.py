"""Where mappings come from: the YAML files shipped in ``training/mappings`` (by name)
or a path, read with YAML 1.2 booleans.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from training.importing.errors import MappingError
from training.importing.mapping import CRMMapping
from training.importing.mapping_file import parse_mapping


class _YAMLLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 reads ``Yes``, ``No``, ``On`` as
    booleans, which would silently turn a CRM's "Yes"/"No" values into ``true``."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def builtin_mappings() -> list[str]:
    """Names of the mappings shipped in ``training/mappings``."""
    folder = resources.files("training.mappings")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_mapping(ref: str | Path | CRMMapping) -> CRMMapping:
    """A mapping from a YAML path or a built-in name (``x_education``, ``amocrm`` ...)."""
    if isinstance(ref, CRMMapping):
        return ref
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise MappingError(f"mapping file {path} does not exist")
        return parse_mapping(_read_yaml(path.read_text(encoding="utf-8")), str(path))
    name = str(ref).replace("-", "_")
    resource = resources.files("training.mappings") / f"{name}.yaml"
    if not resource.is_file():
        raise MappingError(
            f"unknown mapping {ref!r}: not a file, and not one of the built-in mappings "
            f"({', '.join(builtin_mappings())})"
        )
    return parse_mapping(_read_yaml(resource.read_text(encoding="utf-8")), f"builtin:{name}")


def _read_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YAMLLoader)  # a SafeLoader subclass: no object tags
    except yaml.YAMLError as exc:
        raise MappingError(f"the mapping is not valid YAML: {exc}") from exc
