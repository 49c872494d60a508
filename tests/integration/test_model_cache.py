"""One model cache shared by several server processes (``LEADSCORE_MODEL_CACHE_DIR``).

Replicas on one host may share a home, or a cache folder on a shared volume; they then
download the same version at the same moment when the champion moves. Each must end up
serving a complete, verified copy, and none may delete a folder another is reading.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scoring.model import MANIFEST, ArtifactError, verify_folder
from serving.model_loading import (
    CURRENT_FILE,
    STAGING_PREFIX,
    ModelManager,
    place_folder,
    remove_stale_staging,
)
from tests.model_fixtures import Registry


@pytest.mark.slow
def test_managers_sharing_a_cache_download_one_version_at_once(
    registry: Registry, tmp_path: Path
) -> None:
    cache = tmp_path / "shared-cache"
    managers = [
        ModelManager(registry.settings(tmp_path / f"home{i}", model_cache_dir=cache))
        for i in range(3)
    ]
    barrier = threading.Barrier(len(managers))
    errors: list[BaseException] = []

    def start(manager: ModelManager) -> None:
        barrier.wait()
        try:
            manager.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(m,)) for m in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert [m.version for m in managers] == ["1", "1", "1"]
    assert {m.current.source for m in managers if m.current} == {"registry"}
    assert verify_folder(cache / "v1")
    assert (cache / CURRENT_FILE).read_text() == "1\n"
    # every staging folder was renamed into place or removed; nothing else was written
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == [
        CURRENT_FILE,
        "v1",
    ]
    assert list(cache.glob(f"{STAGING_PREFIX}*")) == []
    assert not (tmp_path / "home0" / "model-cache").exists()  # the setting, not the home


def _scorer_folder(path: Path, payload: str) -> Path:
    """A minimal folder that :func:`verify_folder` accepts (a manifest with a checksum)."""
    import hashlib
    import json

    path.mkdir(parents=True)
    (path / "scorer.json").write_text(payload)
    digest = hashlib.sha256(payload.encode()).hexdigest()
    (path / MANIFEST).write_text(json.dumps({"scorer.json": digest}))
    return path


def test_a_good_copy_in_place_is_kept_and_a_broken_one_set_aside(tmp_path: Path) -> None:
    target = _scorer_folder(tmp_path / "v7", "theirs")
    mine = _scorer_folder(tmp_path / "staging-a", "mine")
    assert place_folder(mine, target) == target
    assert (target / "scorer.json").read_text() == "theirs"  # the copy in place stays

    (target / "scorer.json").write_text("truncat")  # corrupt the copy in place
    with pytest.raises(ArtifactError):
        verify_folder(target)
    assert place_folder(mine, target) == target
    assert (target / "scorer.json").read_text() == "mine"
    verify_folder(target)
    (aside,) = tmp_path.glob(f"{STAGING_PREFIX}v7-broken-*")  # never deleted under a reader
    assert (aside / "scorer.json").read_text() == "truncat"

    remove_stale_staging(tmp_path, older_than_seconds=3600)
    assert aside.exists()  # too young: its process may still be at work
    remove_stale_staging(tmp_path, older_than_seconds=-1)
    assert not aside.exists()
