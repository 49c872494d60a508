"""What is sent and to whom: the benchmark leads, request bodies for both servers, the
champion's summary, and the check that both servers give the same P(won).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from serve_bench_common import HOST, LEAD_FIELDS, SEED

from scoring.features import FeatureSpec
from scoring.pyfunc import PYFUNC_TIME_COLUMNS, pyfunc_frame

# --- leads and payloads ------------------------------------------------------------------


def history_folder(home: Path) -> Path | None:
    """The folder of the home's synthetic history (``leadscore demo`` writes one), if any."""
    found = sorted(home.glob("data/*/leads.csv"))
    return found[0].parent if found else None


def synthetic_history(folder: Path, n: int) -> Path:
    """A synthetic history of ``n`` leads written to ``folder``: the leads to send when the
    home has none (a home trained on imported data, or by ``leadscore train`` alone)."""
    from training.synthetic import generate

    return generate(n, months=6, seed=SEED).save(folder)


def load_leads(folder: Path, n: int) -> list[dict[str, Any]]:
    """The ``n`` most recent MQLs of the history in ``folder``, with touches up to MQL."""
    import pandas as pd

    # keep_default_na=False: the region "NA" (North America) is a value, not a missing one
    leads = pd.read_csv(folder / "leads.csv", dtype=str, keep_default_na=False)
    touches = pd.read_csv(folder / "touches.csv", dtype=str, keep_default_na=False)
    leads["_mql"] = pd.to_datetime(leads["mql_at"], utc=True, format="ISO8601")
    leads = leads.sort_values("_mql").tail(n)
    touches = touches[touches["lead_id"].isin(set(leads["lead_id"]))].copy()
    touches["_at"] = pd.to_datetime(touches["at"], utc=True, format="ISO8601")
    by_lead = {lead_id: group for lead_id, group in touches.groupby("lead_id")}
    records = []
    for row in leads.to_dict(orient="records"):
        record: dict[str, Any] = {}
        for col in LEAD_FIELDS:
            value = row[col]
            if value == "":
                continue
            if col.startswith("consent_"):
                record[col] = value.lower() == "true"
            elif col.endswith("_at"):
                record[col] = pd.Timestamp(value).isoformat()
            else:
                record[col] = value
        mine = by_lead.get(row["lead_id"])
        record["touches"] = (
            []
            if mine is None
            else [
                {"at": at.isoformat(), "type": kind}
                for at, kind in zip(mine["_at"], mine["type"], strict=True)
                if at <= row["_mql"]
            ]
        )
        record["as_of"] = record["mql_at"]
        records.append(record)
    return records


def mlflow_body(records: list[dict[str, Any]], spec: FeatureSpec) -> bytes:
    split = pyfunc_frame(records, spec).to_dict(orient="split")
    split.pop("index", None)
    return dumps({"dataframe_split": split})


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


# --- the model ---------------------------------------------------------------------------


def model_summary(home: Path) -> dict[str, Any]:
    """Trees per stage (and of the fit and rejection-reason models) of the served version."""
    current = home / "model-cache" / "CURRENT"
    if current.is_file():  # the copy leadscore serve loaded
        folder = home / "model-cache" / f"v{current.read_text().strip()}"
        version = folder.name.removeprefix("v")
    else:  # only the MLflow server ran: the newest logged scorer
        logged = list(home.glob("mlartifacts/**/scorer/scorer.json"))
        if not logged:
            raise SystemExit(
                f"{home} holds no served model (model-cache/CURRENT) and no logged scorer "
                "(mlartifacts/**/scorer/scorer.json): run the leadscore server, or train"
            )
        folder = max(logged, key=lambda p: p.stat().st_mtime).parent
        version = "(champion)"
    meta = json.loads((folder / "scorer.json").read_text())

    def trees(name: str) -> tuple[int, int]:
        text = (folder / name).read_text()
        classes = re.search(r"^num_class=(\d+)", text, re.M)
        return len(re.findall(r"^Tree=", text, re.M)), int(classes.group(1)) if classes else 1

    def stage(name: str) -> int | str:  # a small history may be won by the logistic baseline
        lightgbm = folder / f"stage_{name}.txt"
        return trees(lightgbm.name)[0] if lightgbm.exists() else "logistic (no trees)"

    stages = {s["name"]: stage(s["name"]) for s in meta["stages"]}
    out: dict[str, Any] = {
        "version": version,
        "stages": stages,
        "features": len(meta["encoder"]["feature_names"]),
        "columns": [*PYFUNC_TIME_COLUMNS, *_input_columns(meta["spec"])],
        "spec": meta["spec"],
    }
    if (folder / "fit_model.txt").exists():
        out["fit_trees"] = trees("fit_model.txt")[0]
    if (folder / "reason_model.txt").exists():
        out["reason_trees"], out["reason_classes"] = trees("reason_model.txt")
    return out


def _input_columns(spec: dict[str, Any]) -> list[str]:
    return [*spec["categorical"], *spec["ordinal"], *spec["boolean"], *spec["numeric"]]


def same_model(
    ports: dict[str, int], auth: dict[str, str], records: list[dict[str, Any]], spec: FeatureSpec
) -> str:
    """Both servers must give the same P(won) for the same leads, or the comparison is void."""
    import httpx

    diffs = []
    with httpx.Client(timeout=30) as client:
        for record in records:
            ours = client.post(
                f"http://{HOST}:{ports['leadscore']}/v1/score?reasons=0", json=record, headers=auth
            )
            theirs = client.post(
                f"http://{HOST}:{ports['mlflow']}/invocations",
                content=mlflow_body([record], spec),
                headers={"Content-Type": "application/json"},
            )
            ours.raise_for_status()
            theirs.raise_for_status()
            diffs.append(abs(ours.json()["p_won"] - theirs.json()["predictions"][0]["p_won"]))
    worst = max(diffs)
    if worst > 1e-5:
        raise RuntimeError(f"the two servers disagree on P(won) by up to {worst:.2g}")
    return (
        f"Both return the same P(won) for the same {len(records)} leads "
        f"(largest difference {worst:.1g}, leadscore rounds to 6 decimals)."
    )
