"""The serving model's lifecycle: load, keep a last-known-good copy, hot-swap.

* At start the server resolves ``models:/<name>@champion`` with short timeouts. If the
  registry does not answer, it serves the local copy it kept last time, so a registry
  outage never stops scoring. With a local copy at hand the registry gets only
  ``registry_startup_timeout_seconds`` (a registry that accepts connections but never
  answers must not hold the start-up); the poller catches up later.
* Every registry call runs in a thread of its own with a deadline: a call that hangs
  past it is abandoned (its socket times out on its own, ``MLFLOW_HTTP_REQUEST_TIMEOUT``)
  and never queues the next call behind it.
* A candidate version is downloaded into the cache, its checksums verified, then
  loaded and scored **in a child process** first: LightGBM aborts the interpreter on
  some corrupt model files, and that must kill the child, not the server. Only a
  candidate that passes all of this replaces the working model.
* Server processes may share one cache folder (``LEADSCORE_MODEL_CACHE_DIR``, or one
  home on one host): a version is downloaded into a staging folder of the process's own
  and renamed into place whole, and the small files beside it are written by rename, so
  a process never reads another's half-written copy (:func:`place_folder`).
* The swap is one reference assignment: a request in flight keeps the model it
  started with; the next one gets the new one. No request fails during a swap.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from scoring.model import MANIFEST, ArtifactError, LeadScorer, verify_folder
from scoring.registry_client import alias_version, download_scorer, version_tags
from scoring.settings import Settings

log = logging.getLogger("leadscore.model")
CURRENT_FILE = "CURRENT"
CHECKED_MARKER = ".checked"
PROMOTION_FILE = ".promotion.json"
CHECK_TIMEOUT_SECONDS = 120
STAGING_PREFIX = ".staging-"
"""Names in the cache that are work in progress (a download, a copy set aside), never served."""
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


class RegistryTimeout(TimeoutError):
    """The registry did not answer within the deadline (the message says which)."""


def describe(exc: BaseException) -> str:
    """``Type: message`` for logs and ``/readyz``; a bare type (``TimeoutError: ``) says why not."""
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else f"{exc.__class__.__name__} (no message)"


def _run_with_deadline(fn, args: tuple, timeout: float, what: str):
    """``fn(*args)`` in a daemon thread of its own; :class:`RegistryTimeout` past ``timeout``.

    A thread per call (not a shared pool): a call that hangs is left behind and cannot
    delay the next one; daemon, so it cannot delay the interpreter's exit either.
    """
    future: concurrent.futures.Future = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=f"registry-{what}", daemon=True).start()
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise RegistryTimeout(
            f"the registry did not answer within {timeout:g} s ({what})"
        ) from None


def smoke_test(folder: Path) -> LeadScorer:
    """Load a scorer folder and score one lead with reasons: it must not raise."""
    scorer = LeadScorer.load(folder)
    scorer.score_records([SMOKE_LEAD], ["2025-01-10T00:00:00Z"], reasons=3)
    return scorer


CHECKING = "leadscore-check:"
"""Prefix of the child's progress lines: if LightGBM aborts it, the last one names the file."""


def check_files_one_by_one(folder: Path) -> None:
    """The child's check: each LightGBM file on its own (saying which first), then a score.

    LightGBM may abort the whole process on a corrupt file, leaving no exception to read;
    the progress line written just before names the file that did it.
    """
    import lightgbm as lgb

    texts = verify_folder(folder)
    for name in sorted(n for n in texts if n.endswith(".txt")):  # the LightGBM models
        print(f"{CHECKING} {name}", file=sys.stderr, flush=True)
        lgb.Booster(model_str=texts[name])
    print(f"{CHECKING} a test score", file=sys.stderr, flush=True)
    smoke_test(folder)


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
            encoding="utf-8",
            errors="replace",  # LightGBM may quote the corrupt file's bytes
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ArtifactError(f"model check timed out after {CHECK_TIMEOUT_SECONDS}s") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        steps = [line.removeprefix(CHECKING).strip() for line in lines if line.startswith(CHECKING)]
        problems = [line for line in lines if not line.startswith(CHECKING)]
        tail = problems[-1] if problems else f"exit {proc.returncode}"
        where = f" while checking {steps[-1]}" if steps else ""
        raise ArtifactError(f"model failed its check in a child process{where}: {tail[:300]}")
    write_atomically(marker, manifest_hash + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` by rename, so a reader in another process sees all or nothing."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def place_folder(ready: Path, target: Path) -> Path:
    """Rename the complete folder ``ready`` to ``target``, unless a good copy is there.

    The rename is atomic; on a non-empty ``target`` it fails, and then the folder there
    (another process's copy of the same version) is kept if its checksums pass, or set
    aside under a unique name (never deleted: a process may still be loading it) so
    that ours takes its place.
    """
    for _ in range(3):
        try:
            os.rename(ready, target)
            return target
        except OSError:  # ENOTEMPTY / EEXIST: a copy is already in place
            if not target.exists():
                continue
        try:
            verify_folder(target)
            return target
        except ArtifactError:
            broken = target.with_name(f"{STAGING_PREFIX}{target.name}-broken-{uuid.uuid4().hex}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(target, broken)
            log.warning("set aside a cached copy that failed its checks: %s", broken.name)
    raise ArtifactError(f"could not place {target.name} in the model cache")


def remove_stale_staging(cache: Path, older_than_seconds: float = 24 * 3600) -> None:
    """Delete staging folders that a killed process left behind (old enough to be dead)."""
    cutoff = time.time() - older_than_seconds
    for leftover in cache.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)


class ModelManager:
    """Owns the current model. Thread-safe; one load at a time."""

    def __init__(self, settings: Settings, alias: str = "champion") -> None:
        self.settings = settings
        self.alias = alias
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self._load_lock = threading.Lock()
        self.startup = False  # during start(): the registry gets the start-up deadline

    @property
    def cache(self) -> Path:
        return self.settings.resolved_model_cache_dir

    # --- registry access, always with a deadline ---------------------------------------

    def registry_deadline(self) -> float:
        """Seconds a registry call may take now: shorter at start-up if a local copy waits."""
        timeout = self.settings.registry_timeout_seconds
        if self.startup and (self.cache / CURRENT_FILE).is_file():
            return min(timeout, self.settings.registry_startup_timeout_seconds)
        return timeout

    def _with_deadline(self, fn, *args, timeout: float | None = None, what: str = "call"):
        return _run_with_deadline(fn, args, timeout or self.registry_deadline(), what)

    def _resolve_version(self) -> str:
        return self._with_deadline(
            alias_version, self.settings, self.alias, what=f"alias @{self.alias}"
        )

    def _download(self, version: str) -> Path:
        """Download a version into the cache; the folder appears whole or not at all.

        Several server processes may share the cache (one host, one home) and fetch the
        same version at once: each downloads into a staging folder of its own, then
        renames it into place. The first rename wins; a later one finds a verified
        folder there and drops its own copy. A folder in place is never deleted while
        another process may be reading it, only set aside if its checksums fail.
        """
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}v{version}-", dir=self.cache))
        try:
            scorer_dir = self._with_deadline(
                download_scorer,
                self.settings,
                version,
                staging / "download",
                timeout=self.settings.registry_timeout_seconds * 12,
                what=f"download of v{version}",
            )
            ready = staging / "scorer"
            shutil.copytree(scorer_dir, ready)
            return place_folder(ready, self.cache / f"v{version}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> LoadedModel:
        """Load the champion from the registry, else the last-known-good local copy."""
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        # whole seconds, at least 1: "0" would mean no timeout at all to MLflow
        os.environ.setdefault(
            "MLFLOW_HTTP_REQUEST_TIMEOUT",
            str(max(1, math.ceil(self.settings.registry_timeout_seconds))),
        )
        # MLflow's client is imported here, before any registry deadline runs: importing
        # it takes seconds on a busy machine, which is not the registry being slow
        # (scoring.registry_client imports it lazily, so the server skips mlflow.pyfunc).
        import mlflow  # noqa: F401

        self.cache.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(self.cache)
        self.startup = True
        try:
            self.refresh()
        except Exception as exc:  # registry down, alias missing, candidate broken
            self.last_error = f"registry: {describe(exc)}"
            log.warning(
                "could not load from the registry (%s); trying the local copy", self.last_error
            )
        finally:
            self.startup = False
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
                try:
                    verify_folder(folder)
                except ArtifactError:
                    folder = self._download(version)
                return self.activate(folder, version)
            except RegistryTimeout:
                raise
            except Exception as exc:  # the log line must say which version and folder
                raise ArtifactError(
                    f"candidate v{version} ({folder.name}): {describe(exc)}"
                ) from exc

    def activate(self, folder: Path, version: str) -> bool:
        """Check a candidate folder in a child process, load it, and swap it in."""
        verify_folder(folder)
        check_in_child(folder)
        scorer = smoke_test(folder)
        promotion = self._promotion(version, folder)
        self.current = LoadedModel(
            scorer, self.settings.model_name, version, datetime.now(UTC), "registry", promotion
        )
        write_atomically(self.cache / CURRENT_FILE, version + "\n")
        self.last_error = None
        log.info("now serving %s v%s", self.settings.model_name, version)
        return True

    def _promotion(self, version: str, folder: Path) -> dict[str, Any] | None:
        """The version's ``promotion`` tag, kept next to the local copy for restarts."""

        def fetch() -> str | None:
            return version_tags(self.settings, version).get("promotion")

        try:
            text = self._with_deadline(fetch)
        except Exception as exc:  # the tag is information, never a reason not to serve
            log.warning("could not read v%s's promotion tag: %s", version, exc)
            return _read_promotion(folder)
        if text:
            write_atomically(folder / PROMOTION_FILE, text)
        return _read_promotion(folder)

    def try_refresh(self) -> str:
        """:meth:`refresh` that never raises: a broken candidate leaves the old model serving."""
        try:
            swapped = self.refresh()
        except Exception as exc:
            self.last_error = describe(exc)
            log.warning(
                "model refresh failed, still serving v%s: %s", self.version, self.last_error
            )
            return f"kept v{self.version}: {self.last_error}"
        return f"swapped to v{self.version}" if swapped else f"unchanged (v{self.version})"

    @property
    def version(self) -> str | None:
        return self.current.version if self.current else None

    def close(self) -> None:
        """Nothing to stop: a registry call still running is a daemon thread, left behind."""


def _read_promotion(folder: Path) -> dict[str, Any] | None:
    path = folder / PROMOTION_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


if __name__ == "__main__":
    check_files_one_by_one(Path(sys.argv[1]))
