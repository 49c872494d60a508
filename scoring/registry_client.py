"""Thin access to the MLflow model registry: which store, which alias, fetch a version.

Training writes the registry (runs, registration, the promotion gate:
``training.registry``); serving, the reports and the command line only read it — the
version an alias points to, the versions there are, one version's scorer folder. Both
floors stand on this module, so neither imports the other to reach the registry, and the
server loads a model without pulling in the training stack.

MLflow is imported inside the functions: importing this module touches no store.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

SCORER_ARTIFACT = "scorer"
"""The pyfunc artifact that holds the scorer folder. Defined here, not in
:mod:`scoring.pyfunc` (which re-exports it), so that reading the registry does not
import ``mlflow.pyfunc`` and the scorer's pyfunc wrapper: the server never needs them."""

CHAMPION = "champion"
"""The alias of the served version: the server loads it, promotion moves it."""
CHALLENGER = "challenger"
"""The alias training gives every version it registers, until the gate decides."""

MLFLOW_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")
"""The variables MLflow exports for subprocesses when its process-wide choices are set."""


@contextmanager
def environment_kept() -> Iterator[None]:
    """Undo MLflow's exports of its process-wide choices to the environment.

    ``mlflow.set_tracking_uri``, ``set_registry_uri`` and ``set_experiment`` also set
    MLFLOW_TRACKING_URI, MLFLOW_REGISTRY_URI and MLFLOW_EXPERIMENT_ID, for subprocesses.
    :class:`Settings` honours those variables as the user's (or ``mlflow run``'s) choice,
    so a later ``Settings(home=...)`` in this process, or a server started from it, would
    inherit this store and experiment in place of its own. They are put back as they were.
    """
    saved = {name: os.environ.get(name) for name in MLFLOW_VARIABLES}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def client_for(settings: Settings) -> MlflowClient:
    """A client of this settings' store, leaving MLflow's process-wide URIs alone.

    What a reader needs (the server's poller, the marketing page): it may run beside a
    command that pointed MLflow elsewhere, and must not move that command's store.
    """
    from mlflow import MlflowClient

    return MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)


def use_store(settings: Settings) -> MlflowClient:
    """Point MLflow's process-wide URIs at the one absolute store of these settings.

    MLflow's fluent API and ``models:/`` downloads read the global URIs, whose default is
    ``mlflow.db`` in the current folder: every entry point goes through here first.
    """
    import mlflow

    with environment_kept():
        mlflow.set_tracking_uri(settings.resolved_tracking_uri)
        mlflow.set_registry_uri(settings.resolved_registry_uri)
    return client_for(settings)


def model_uri(settings: Settings, ref: str) -> str:
    """``models:/`` URI of a version (``"3"``) or an alias (``"champion"``)."""
    sep = "/" if ref.isdigit() else "@"
    return f"models:/{settings.model_name}{sep}{ref}"


def download_scorer(settings: Settings, ref: str, dest: Path) -> Path:
    """Download a registered version (``"champion"``, ``"3"``) and return its scorer folder."""
    import mlflow

    uri = model_uri(settings, ref)
    use_store(settings)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))
    return local / "artifacts" / SCORER_ARTIFACT


def resolve_version(client: MlflowClient, settings: Settings, alias: str) -> str | None:
    """The version ``alias`` points to, or None if the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(settings.model_name, alias).version)
    except MlflowException:
        return None


def alias_version(settings: Settings, alias: str) -> str:
    """The version ``alias`` points to; raises MLflow's error if there is none.

    For the server, which reports why it could not load (no alias, registry down).
    """
    client = client_for(settings)
    return str(client.get_model_version_by_alias(settings.model_name, alias).version)


def version_tags(settings: Settings, version: str) -> dict[str, str]:
    """A registered version's tags (``promotion``, ``handoff_threshold``, ...)."""
    found = client_for(settings).get_model_version(settings.model_name, version)
    return dict(found.tags or {})


def list_versions(settings: Settings) -> list[Any]:
    """Every registered version of the model, each with ``aliases`` filled in.

    Search results leave ``aliases`` empty on some stores, so they are read from the
    registered model as well and merged into each version's list.
    """
    client = client_for(settings)
    found = list(client.search_model_versions(f"name='{settings.model_name}'"))
    if not found:
        return []
    by_version: dict[str, set[str]] = {}
    for alias, version in (client.get_registered_model(settings.model_name).aliases or {}).items():
        by_version.setdefault(str(version), set()).add(str(alias))
    for version in found:
        merged = set(version.aliases or []) | by_version.get(str(version.version), set())
        version.aliases = sorted(merged)
    return found
