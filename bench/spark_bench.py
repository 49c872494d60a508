"""Batch scoring speed: ``leadscore score`` on Spark ``local[2]`` against one process.

    python bench/spark_bench.py --leads 1000000 --reasons-leads 100000

Uses the champion of the ``LEADSCORE_`` settings (``leadscore demo`` makes one; ``--home``
points at another home). The leads file is the demo's kind of leads — the most recent
MQLs of a synthetic history (``--distinct``, seed 42) in the API's lead shape, touches
as JSON text — repeated with new ``lead_id``s up to ``--leads`` rows: the speed of
scoring does not depend on whether two rows share their fields. Each engine scores the
file into a fresh output (the model downloaded once beforehand, as the command does):
``local`` in this process (:func:`cli.score_engines.score_local`), ``spark`` with
``spark_udf`` in ``local[2]`` (session start-up timed apart). Reasons cost about a
millisecond a lead, so the runs with ``--reasons 3`` score ``--reasons-leads`` rows
(the first ones of the same file). Prints one Markdown table row per run and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="rows scored without reasons")
    parser.add_argument("--reasons-leads", type=int, default=100_000, help="rows with reasons")
    parser.add_argument("--distinct", type=int, default=20_000, help="synthetic leads repeated")
    parser.add_argument("--home", type=Path, help="LEADSCORE_HOME with a champion")
    parser.add_argument("--engine", action="append", choices=["local", "spark"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only-reasons", action="store_true", help="skip the runs without reasons")
    return parser.parse_args(argv)


def write_leads(path: Path, rows: int, distinct: int) -> None:
    """``rows`` leads: ``distinct`` synthetic MQLs in the API's shape, repeated, new ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cli.demo_leads import recent_leads
    from training.synthetic import generate

    history = generate(distinct, seed=42)
    leads = recent_leads(history, distinct, now=history.snapshot_at)
    for lead in leads:
        lead["touches"] = json.dumps(lead["touches"])
    base = pa.Table.from_pylist(leads)
    ids = base.column("lead_id").to_pylist()
    with pq.ParquetWriter(str(path), base.schema) as writer:
        written, copy = 0, 0
        while written < rows:
            take = min(len(ids), rows - written)
            chunk = base.slice(0, take).set_column(
                base.schema.get_field_index("lead_id"),
                "lead_id",
                pa.array([f"{i}-r{copy}" for i in ids[:take]]),
            )
            writer.write_table(chunk)
            written, copy = written + take, copy + 1


def head(source: Path, rows: int, dest: Path) -> Path:
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(str(source)).slice(0, rows), str(dest))
    return dest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.home:
        os.environ["LEADSCORE_HOME"] = str(args.home)
    engines = args.engine or ["local", "spark"]
    from cli.score import download_model
    from cli.score_engines import ScoringJob, score_local, score_spark, spark_session
    from scoring.settings import Settings

    settings = Settings()
    results = []
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp_name:
        tmp = Path(tmp_name)
        version, model_dir = download_model(settings, "champion", tmp / "model")
        log(f"model {settings.model_name} v{version}; writing {args.leads:,} leads")
        full = tmp / "leads.parquet"
        write_leads(full, args.leads, args.distinct)
        small = (
            full
            if args.reasons_leads >= args.leads
            else head(full, args.reasons_leads, tmp / "leads-small.parquet")
        )
        runs = [(full, args.leads, 0), (small, args.reasons_leads, 3)]
        if args.only_reasons:
            runs = runs[1:]
        spark, startup = None, None
        for engine in engines:
            if engine == "spark":
                started = time.perf_counter()
                spark = spark_session("local[2]", app_name="leadscore-bench")
                startup = time.perf_counter() - started
                log(f"Spark session started in {startup:.1f} s")
            for source, rows, reasons in runs:
                job = ScoringJob(model_dir, settings.model_name, version, reasons=reasons)
                output = tmp / f"out-{engine}-{reasons}.parquet"
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                if engine == "local":
                    count = score_local(job, source, output)
                else:
                    count = score_spark(job, source, output, spark)
                seconds = time.perf_counter() - started
                assert count == rows, (count, rows)
                result = {
                    "engine": engine,
                    "leads": rows,
                    "reasons": reasons,
                    "seconds": round(seconds, 1),
                    "leads_per_second": round(rows / seconds),
                    "load_before": round(load_before, 1),
                    "load_after": round(os.getloadavg()[0], 1),
                }
                results.append(result)
                log(json.dumps(result))
                shutil.rmtree(output, ignore_errors=True) if output.is_dir() else output.unlink()
        if spark is not None:
            spark.stop()
    print("| engine | leads | reasons | seconds | leads/s | load (1 min) before → after |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        print(
            f"| {r['engine']} | {r['leads']:,} | {r['reasons']} | {r['seconds']} | "
            f"{r['leads_per_second']:,} | {r['load_before']} → {r['load_after']} |"
        )
    if startup is not None:
        print(f"\nSpark session start-up (local[2], not in the times above): {startup:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "spark_startup": startup}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
