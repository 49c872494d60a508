"""The serving model's lifecycle: load, keep a last-known-good copy, hot-swap.

* At start the server resolves ``models:/<name>@champion`` with short timeouts. If the
  registry does not answer, it serves the local copy it kept last time, so a registry
  outage never stops scoring.
* A candidate version is downloaded into the cache, its checksums verified, then
  loaded and scored **in a child process** first: LightGBM aborts the interpreter on
  some corrupt model files, and that must kill the child, not the server. Only a
  candidate that passes all of this replaces the working model.
* The swap is one reference assignment: a request in flight keeps the model it
  started with; the next one gets the new one. No request fails during a swap.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from scoring.model import MANIFEST, ArtifactError, LeadScorer, verify_folder
from scoring.settings import Settings

log = logging.getLogger("leadscore.model")
CURRENT_FILE = "CURRENT"
CHECKED_MARKER = ".checked"
PROMOTION_FILE = ".promotion.json"
CHECK_TIMEOUT_SECONDS = 120
SMOKE_LEAD = {
    "lead_id": "smoke-test",
    "created_at": "2025-01-01T00:00:00Z",
    "channel": "seo",
    "industry": "software",
    "company_size": "51-200",
    "touches": [{"at": "2025-01-05T00:00:00Z", "type": "demo_request"}],
}


@dataclass(frozen=True)
class LoadedModel:
    scorer: LeadScorer
    name: str
    version: str
    loaded_at: datetime
    source: Literal["registry", "local-copy"]
    promotion: dict[str, Any] | None = None
    """The promotion gate's decision and evidence for this version (its ``promotion`` tag)."""


class ModelUnavailable(RuntimeError):
    """Neither the registry nor the local copy could provide a model."""


def smoke_test(folder: Path) -> LeadScorer:
    """Load a scorer folder and score one lead with reasons: it must not raise."""
    scorer = LeadScorer.load(folder)
    scorer.score_records([SMOKE_LEAD], ["2025-01-10T00:00:00Z"], reasons=3)
    return scorer


def check_in_child(folder: Path) -> None:
    """Run :func:`smoke_test` in a separate interpreter; raise if it fails or crashes.

    A folder that passed once carries a marker with the hash of its manifest, so a
    restart does not pay for the child process again; any change to the files changes
    the manifest (or fails its checksums) and so re-runs the check.
    """
    marker = folder / CHECKED_MARKER
    manifest_hash = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    if marker.is_file() and marker.read_text().strip() == manifest_hash:
        return
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "serving.model_loading", str(folder)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ArtifactError(f"model check timed out after {CHECK_TIMEOUT_SECONDS}s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise ArtifactError(f"model failed its check in a child process: {tail[0][:300]}")
    marker.write_text(manifest_hash + "\n")


class ModelManager:
    """Owns the current model. Thread-safe; one load at a time."""

    def __init__(self, settings: Settings, alias: str = "champion") -> None:
        self.settings = settings
        self.alias = alias
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self._load_lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="registry"
        )

    @property
    def cache(self) -> Path:
        return self.settings.model_cache_dir

    # --- registry access, always with a deadline ---------------------------------------

    def _with_deadline(self, fn, *args, timeout: float | None = None):
        future = self._pool.submit(fn, *args)
        return future.result(timeout=timeout or self.settings.registry_timeout_seconds)

    def _resolve_version(self) -> str:
        from mlflow import MlflowClient

        def resolve() -> str:
            client = MlflowClient(
                self.settings.resolved_tracking_uri, self.settings.resolved_registry_uri
            )
            return str(
                client.get_model_version_by_alias(self.settings.model_name, self.alias).version
            )

        return self._with_deadline(resolve)

    def _download(self, version: str) -> Path:
        from training.registry import download_scorer

        staging = self.cache / f"v{version}.download"
        scorer_dir = self._with_deadline(
            download_scorer,
            self.settings,
            version,
            staging,
            timeout=self.settings.registry_timeout_seconds * 12,
        )
        target = self.cache / f"v{version}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(scorer_dir, target)
        shutil.rmtree(staging, ignore_errors=True)
        return target

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> LoadedModel:
        """Load the champion from the registry, else the last-known-good local copy."""
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault(
            "MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(self.settings.registry_timeout_seconds))
        )
        self.cache.mkdir(parents=True, exist_ok=True)
        try:
            self.refresh()
        except Exception as exc:  # registry down, alias missing, candidate broken
            self.last_error = f"registry: {exc.__class__.__name__}: {exc}"
            log.warning(
                "could not load from the registry (%s); trying the local copy", self.last_error
            )
        if self.current is None:
            self._load_local_copy()
        assert self.current is not None
        return self.current

    def _load_local_copy(self) -> None:
        pointer = self.cache / CURRENT_FILE
        if not pointer.is_file():
            raise ModelUnavailable(
                f"no model: registry unavailable ({self.last_error}) and no local copy"
            )
        version = pointer.read_text().strip()
        folder = self.cache / f"v{version}"
        verify_folder(folder)
        scorer = LeadScorer.load(folder)
        self.current = LoadedModel(
            scorer,
            self.settings.model_name,
            version,
            datetime.now(UTC),
            "local-copy",
            _read_promotion(folder),
        )
        log.info("serving v%s from the local copy", version)

    def refresh(self) -> bool:
        """Swap to the alias's version if it moved. Returns True when a swap happened."""
        with self._load_lock:
            version = self._resolve_version()
            if (
                self.current is not None
                and self.current.version == version
                and self.current.source == "registry"
            ):
                return False
            folder = self.cache / f"v{version}"
            try:
                verify_folder(folder)
            except ArtifactError:
                folder = self._download(version)
            return self.activate(folder, version)

    def activate(self, folder: Path, version: str) -> bool:
        """Check a candidate folder in a child process, load it, and swap it in."""
        verify_folder(folder)
        check_in_child(folder)
        scorer = smoke_test(folder)
        promotion = self._promotion(version, folder)
        self.current = LoadedModel(
            scorer, self.settings.model_name, version, datetime.now(UTC), "registry", promotion
        )
        (self.cache / CURRENT_FILE).write_text(version + "\n")
        self.last_error = None
        log.info("now serving %s v%s", self.settings.model_name, version)
        return True

    def _promotion(self, version: str, folder: Path) -> dict[str, Any] | None:
        """The version's ``promotion`` tag, kept next to the local copy for restarts."""
        from mlflow import MlflowClient

        def fetch() -> str | None:
            client = MlflowClient(
                self.settings.resolved_tracking_uri, self.settings.resolved_registry_uri
            )
            return client.get_model_version(self.settings.model_name, version).tags.get("promotion")

        try:
            text = self._with_deadline(fetch)
        except Exception as exc:  # the tag is information, never a reason not to serve
            log.warning("could not read v%s's promotion tag: %s", version, exc)
            return _read_promotion(folder)
        if text:
            (folder / PROMOTION_FILE).write_text(text)
        return _read_promotion(folder)

    def try_refresh(self) -> str:
        """:meth:`refresh` that never raises: a broken candidate leaves the old model serving."""
        try:
            swapped = self.refresh()
        except Exception as exc:
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            log.warning(
                "model refresh failed, still serving v%s: %s", self.version, self.last_error
            )
            return f"kept v{self.version}: {self.last_error}"
        return f"swapped to v{self.version}" if swapped else f"unchanged (v{self.version})"

    @property
    def version(self) -> str | None:
        return self.current.version if self.current else None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _read_promotion(folder: Path) -> dict[str, Any] | None:
    path = folder / PROMOTION_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


if __name__ == "__main__":
    smoke_test(Path(sys.argv[1]))
