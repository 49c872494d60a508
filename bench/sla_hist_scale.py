"""SLA quantiles from histograms at a larger log's size, without replaying its lifecycles.

The first refresh of a 1M-decision store replays every lead's lifecycle in pandas (about
two hours on this machine), so this takes a store ``report_bench.py --keep`` filled and
refreshed at a smaller size and scales what the SLA quantiles read:

1. reads every lead's response and decision times with its cohort day and group fields
   (``lead_sla`` joined with ``lead_rollups``);
2. replaces ``sla_histograms`` with the histograms of ``--scale`` copies of each lead, each
   copy's times multiplied by a random factor in [0.8, 1.25] (copies spread over the
   buckets as more leads would), through the refresh's own writer (``add_histograms``);
3. times the section's quantiles (``report_sla._quantiles``, the default grouping: the
   four dimensions) and its whole sums (``report_sla.sla_sums``: day sums, open clocks,
   quantiles) over the whole log and over a period starting and ending mid-month,
   ``--repeat`` times each, and prints median and p95 in milliseconds.

It changes the store's histograms: drop the store after (or rebuild its roll-ups)::

    .venv/bin/python bench/sla_hist_scale.py --url postgresql+psycopg://postgres@127.0.0.1/db \\
        --schema report_bench_keep_100000 --scale 10
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.engine import make_url

from serving.reports.report_data import DIMENSIONS, GROUPABLE
from serving.rollup_tables import LeadRollup, LeadSla, SlaHistogram
from serving.store.report_sla import _quantiles, sla_sums
from serving.store.rollups import Contributions, lead_keys
from serving.store.sla_hist import TIMES, add_histograms, bucket_metrics, hist_keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    url = make_url(args.url).update_query_dict({"options": f"-csearch_path={args.schema}"})
    engine = create_engine(url)
    rng = random.Random(7)
    s, r = LeadSla.__table__, LeadRollup.__table__
    columns = [r.c.cohort_at, *(r.c[f"g_{g}"] for g in GROUPABLE), s.c.response_hours]
    query = select(*columns, s.c.decision_hours).select_from(s.join(r, r.c.lead_id == s.c.lead_id))
    began = time.perf_counter()
    sums: Contributions = defaultdict(float)
    with engine.begin() as conn:
        rows = conn.execute(query.where(r.c.cohort_at.is_not(None))).all()
        for row in rows:
            lead = {"cohort_at": row[0], **{f"g_{g}": row[1 + i] for i, g in enumerate(GROUPABLE)}}
            keys = lead_keys(lead)
            for _ in range(args.scale):
                factor = rng.uniform(0.8, 1.25)
                found = {
                    t: None if h is None else h * factor
                    for t, h in zip(TIMES, row[-2:], strict=True)
                }
                for metric in bucket_metrics(found):
                    for day, field, value in keys:
                        for key in hist_keys(day, field, value, metric):
                            sums[key] += 1.0
        conn.execute(delete(SlaHistogram))
        add_histograms(conn, sums)
        conn.execute(text("ANALYZE sla_histograms"))
        n = conn.execute(select(SlaHistogram.__table__.c.span)).all()
    print(
        f"{len(rows):,} leads with times × {args.scale} = {len(rows) * args.scale:,}; "
        f"{len(n):,} histogram rows; built in {time.perf_counter() - began:.0f} s"
    )
    periods = {
        "whole log": (None, None),
        "2025-02-10 12:00 to 2025-11-20 06:00": (
            datetime(2025, 2, 10, 12, tzinfo=UTC),
            datetime(2025, 11, 20, 6, tzinfo=UTC),
        ),
    }
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    for name, (start, end) in periods.items():
        for what in ("quantiles", "whole section's sums"):
            times = []
            for i in range(args.repeat + 1):
                with engine.connect() as conn:
                    t0 = time.perf_counter()
                    if what == "quantiles":
                        _quantiles(conn, list(DIMENSIONS), start, end)
                    else:
                        sla_sums(engine, list(DIMENSIONS), start, end, as_of)
                    if i:
                        times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"{name}, {what}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
