"""What ``leadscore train --data FILE --mapping M`` needs from an import, and the
paragraph it prints about it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scoring.features import FeatureSpec
from training.history import CRMHistory
from training.importing.conversion import import_export
from training.importing.errors import MappingError
from training.importing.export import ImportedExport
from training.threshold import PolicyInputs
from training.train import TrainConfig

# --- the command line's entry point ----------------------------------------------------


def training_inputs(
    data: Path | None,
    mapping: str | Path,
    *,
    seed: int = 42,
    policy: PolicyInputs | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[CRMHistory, FeatureSpec, TrainConfig, str]:
    """``leadscore train --data FILE --mapping M``: history, spec, config and a source label."""
    if data is None:
        raise MappingError("--mapping needs --data: the CRM export file to import")
    imported = import_export(data, mapping)
    config = imported.train_config(seed=seed, policy=policy)
    if progress is not None:
        progress(describe(imported))
        progress(
            f"training one stage ({', '.join(config.stages)}), {config.split} split, "
            f"label rules {config.label_rules}, policy {config.policy.method}"
        )
    return imported.history, imported.spec, config, f"{Path(data).name} ({imported.mapping.name})"


def describe(imported: ImportedExport) -> str:
    """A one-paragraph import report for the command line (no cell values)."""
    s = imported.summary
    reasons = ", ".join(f"{k} {v}" for k, v in s["reasons"].items()) or "none"
    lines = [
        f"imported {s['rows']:,} rows with mapping {imported.mapping.name!r}: "
        f"won {s['won']:,}, lost {s['lost']:,}, open {s['open']:,} (no label), "
        f"excluded {s['excluded']:,}",
        f"loss reasons: {reasons}; no tag (not a reason): {s['untagged']:,}",
        f"features ({len(s['features'])}): {', '.join(s['features'])}",
        f"sales-side, never features: {', '.join(s['sales_side']) or 'none'}",
        *imported.notes,
    ]
    return "\n".join(lines)
