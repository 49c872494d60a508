"""Top-k reasons from the TreeSHAP tables against LightGBM's exact ``pred_contrib``.

    python bench/topk_bench.py                                   # synthetic 20k + public sets
    python bench/topk_bench.py --leads 20000 --runs 7 --dataset synthetic

For each data set a LightGBM-only scorer is trained (``families=("lightgbm",)``: a
logistic stage's contributions are exact and cheap already, the tables are for trees)
and its test period's leads are scored twice in this one process, with
``exact_shap=True`` (LightGBM's ``pred_contrib``: the single-row C fast path for one
lead, ``Booster.predict`` for a batch, as the scorer did before) and with the tables
(``scoring.shap_tables``, what the scorer does now). It reports:

* **agreement** — the share of test leads whose top-k positive and top-k negative
  reasons (fields, in order, after :data:`scoring.explain.MIN_EFFECT`) are the same both
  ways (target ≥ 99 %), and the largest difference of any field's contribution;
* **time** — min and median over ``--runs`` runs of the contributions alone and of a
  whole ``score_matrix(..., reasons=k)``, for one lead (the mean over ``--single`` leads
  scored one at a time) and for a batch of ``--batch`` leads; exact and tables alternate
  within each run, so both see the same machine load;
* the cost of building the tables (once per model, at load), and one lead through the
  tables even where the scorer sends it to LightGBM (a model below
  ``SINGLE_ROW_MIN_WORK``).

The public data sets (``--data-dir``, default ``../shared/datasets``, as
``leadscore benchmark`` reads them) are used if present. The markdown printed at the end,
with the date and the load average, is what docs/benchmarks.md records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402

from scoring.model import LeadScorer  # noqa: E402
from scoring.shap_tables import SINGLE_ROW_MIN_WORK, ShapTables  # noqa: E402

TARGET_AGREEMENT = 0.99


@dataclass
class Case:
    name: str
    scorer: LeadScorer
    matrix: np.ndarray
    unseen: list[set[str]]


@dataclass
class Timing:
    label: str
    exact: list[float]
    fast: list[float]
    same_path: bool = False  # both columns ran LightGBM: no verdict, only noise

    def row(self) -> str:
        e_min, e_med = min(self.exact), statistics.median(self.exact)
        f_min, f_med = min(self.fast), statistics.median(self.fast)
        faster = "met" if f_med < e_med else "not met"
        if self.same_path:
            faster = "— (both LightGBM)"
        return (
            f"| {self.label} | {_ms(e_min)} / {_ms(e_med)} | {_ms(f_min)} / {_ms(f_med)} "
            f"| {e_med / f_med:.1f}× | {faster} |"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000, help="synthetic leads")
    parser.add_argument(
        "--dataset",
        action="append",
        choices=("synthetic", "x-education", "olist"),
        help="data sets to run (repeatable; default all that are present)",
    )
    parser.add_argument("--data-dir", type=Path, help="folder of the public data sets")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--single", type=int, default=200, help="leads scored one by one")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--k", type=int, default=3, help="reasons each way (API default 3)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def synthetic_case(leads: int, seed: int) -> Case:
    from training.synthetic import generate
    from training.train import TrainConfig, train

    result = train(generate(leads, seed=seed), TrainConfig(seed=seed, families=("lightgbm",)))
    return _case(f"synthetic {leads:,} leads", result)


def public_case(key: str, data_dir: Path | None, seed: int) -> Case | None:
    from training.benchmark import dataset_path
    from training.benchmark_presets import DATASETS
    from training.importing import import_export
    from training.train import train

    path = dataset_path(key, data_dir)
    if not path.is_file():
        log(f"{key}: {path} not found, skipped")
        return None
    imported = import_export(path, DATASETS[key].mapping)
    config = imported.train_config(seed=seed, families=("lightgbm",))
    return _case(DATASETS[key].title, train(imported.history, config, imported.spec))


def _case(name: str, result: Any) -> Case:
    rows = result.frame[(result.split == "test").to_numpy()]
    matrix, unseen = result.scorer.encoder.encode(rows)
    return Case(name, result.scorer, matrix, unseen)


def _fields(reasons: list[dict[str, list[dict[str, Any]]]]) -> list[tuple[tuple[str, ...], ...]]:
    return [
        tuple(tuple(r["field"] for r in lead[side]) for side in ("positive", "negative"))
        for lead in reasons
    ]


def _alternate(runs: int, exact: Callable[[], object], fast: Callable[[], object]) -> Timing:
    times: dict[str, list[float]] = {"exact": [], "fast": []}
    for _ in range(runs):
        for label, call in (("exact", exact), ("fast", fast)):
            start = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - start)
    return Timing("", times["exact"], times["fast"])


def measure(case: Case, args: argparse.Namespace) -> list[str]:
    scorer, matrix, k = case.scorer, case.matrix, args.k
    boosters = [s.booster for s in scorer.stages if hasattr(s, "booster")]
    start = time.perf_counter()
    tables = ShapTables.from_boosters(boosters)
    build = time.perf_counter() - start
    assert scorer.shap_tables is not None, scorer.shap_tables_fallback
    exact = scorer.score_matrix(matrix, unseen=case.unseen, reasons=k, exact_shap=True)
    fast = scorer.score_matrix(matrix, unseen=case.unseen, reasons=k)
    assert exact.reasons is not None and fast.reasons is not None
    assert exact.field_contributions is not None and fast.field_contributions is not None
    pairs = zip(_fields(exact.reasons), _fields(fast.reasons), strict=True)
    same = np.array([a == b for a, b in pairs])
    shown = np.mean([bool(r["positive"] or r["negative"]) for r in exact.reasons])
    diff = float(np.abs(exact.field_contributions - fast.field_contributions).max())
    agreement = float(same.mean())

    rng = np.random.default_rng(args.seed)
    singles = matrix[rng.integers(0, len(matrix), args.single)]
    batch = matrix[rng.integers(0, len(matrix), args.batch)]
    one = [singles[i : i + 1] for i in range(len(singles))]

    def each(call: Callable[[np.ndarray], object]) -> Callable[[], None]:
        def run() -> None:
            for row in one:
                call(row)

        return run

    timings = []
    for label, exact_call, fast_call in (
        (
            "contributions, 1 lead",
            each(lambda r: scorer.contributions(r, exact_shap=True)),
            each(lambda r: scorer.contributions(r)),
        ),
        (
            "contributions, 1 lead, tables forced",
            each(lambda r: scorer.contributions(r, exact_shap=True)),
            each(lambda r: tables.contributions(r)),
        ),
        (
            f"score with top-{k} reasons, 1 lead",
            each(lambda r: scorer.score_matrix(r, reasons=k, exact_shap=True)),
            each(lambda r: scorer.score_matrix(r, reasons=k)),
        ),
        (
            f"contributions, {args.batch:,} leads",
            lambda: scorer.contributions(batch, exact_shap=True),
            lambda: scorer.contributions(batch),
        ),
        (
            f"score with top-{k} reasons, {args.batch:,} leads",
            lambda: scorer.score_matrix(batch, reasons=k, exact_shap=True),
            lambda: scorer.score_matrix(batch, reasons=k),
        ),
    ):
        timing = _alternate(args.runs, exact_call, fast_call)
        timing.label = label
        timing.same_path = label.endswith("1 lead") and tables.path_work < SINGLE_ROW_MIN_WORK
        if "1 lead" in label:  # per lead: the loop scored len(one) leads one at a time
            timing.exact = [t / len(one) for t in timing.exact]
            timing.fast = [t / len(one) for t in timing.fast]
        timings.append(timing)
        log(f"{case.name}: {timing.row()}")

    trees = sum(b.num_trees() for b in boosters)
    leaves = max(int(b.dump_model()["tree_info"][0]["num_leaves"]) for b in boosters)
    params = {
        str(b.params.get("num_leaves", leaves)) for b in boosters if isinstance(b, lgb.Booster)
    }
    verdict = "met" if agreement >= TARGET_AGREEMENT else "not met"
    return [
        f"**{case.name}** — {len(scorer.stages)} LightGBM stage(s), {trees:,} trees "
        f"(num_leaves {', '.join(sorted(params))}), merged into {tables.n_groups:,} tables "
        f"over {tables.split_feature.size - 1:,} distinct splits, built in {build * 1e3:.0f} ms; "
        f"TreeSHAP path work {tables.path_work:,}, so one lead goes through "
        f"{'the tables' if tables.path_work >= SINGLE_ROW_MIN_WORK else 'LightGBM'} "
        f"(SINGLE_ROW_MIN_WORK {SINGLE_ROW_MIN_WORK:,}); "
        f"{len(matrix):,} test leads, {shown:.1%} with at least one reason shown.",
        "",
        f"* same top-{k} both ways as exact SHAP: **{same.sum():,} / {len(same):,} = "
        f"{agreement:.2%}** (target ≥ 99 %: {verdict}); largest field-contribution "
        f"difference {diff:.1e} log-odds",
        "",
        "| work | exact SHAP min / median | tables min / median | speed-up (medians) | faster |",
        "| --- | --- | --- | --- | --- |",
        *(t.row() for t in timings),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = args.dataset or ["synthetic", "x-education", "olist"]
    load = os.getloadavg()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Run {started}, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"(1/5/15 min) at the start, {os.cpu_count()} cores, LightGBM {lgb.__version__}; "
        f"{args.runs} runs, one lead = mean of {args.single} leads scored one at a time.",
        "",
    ]
    for key in wanted:
        log(f"training on {key}")
        case = (
            synthetic_case(args.leads, args.seed)
            if key == "synthetic"
            else public_case(key, args.data_dir, args.seed)
        )
        if case is not None:
            lines += measure(case, args)
    end = os.getloadavg()
    lines.append(f"Load average at the end: {end[0]:.1f} / {end[1]:.1f} / {end[2]:.1f}.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
