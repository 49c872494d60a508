"""What the marketing page's report costs with and without its SLA section.

The page (``serving.page_marketing._marketing_report``) reads the funnel, rejections and
attribution from the roll-ups; its SLA section still reads the whole log while it moves
to roll-ups of its own. This times the page's report both ways, and the attribution
section alone, on a store ``report_bench.py --keep`` filled (run that first)::

    .venv/bin/python bench/marketing_sections_bench.py --url postgresql+psycopg://...

Each: one warm-up (it also folds in whatever is dirty), then the median and p95 of
``--repeat`` calls, in milliseconds, with ``uptime``'s load before and after.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import serve_bench_common  # noqa: F401  (puts the repository root on sys.path)
from report_bench import percentile
from serve_bench_common import log


def timed(call: Callable[[], Any], repeat: int, warm: bool = True) -> tuple[float, float]:
    """Median and p95 milliseconds of ``repeat`` calls after one warm-up (if ``warm``)."""
    if warm:
        call()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(times), percentile(times, 95)


def main(argv: list[str] | None = None) -> int:
    from scoring.lifecycle import SlaClocks
    from serving.page_marketing import PAGE_SECTIONS, _marketing_report
    from serving.report_sql import store_report
    from serving.storage import Store, make_engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the kept store's database URL")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--sla-repeat",
        type=int,
        default=1,
        help="calls of the page with SLA, without warm-up (it reads the whole log: minutes at 1M)",
    )
    parser.add_argument("--half-life", type=float, default=7.0)
    args = parser.parse_args(argv)
    store = Store(make_engine(args.url))
    now = datetime.now(UTC)

    def page(sections: tuple[str, ...]) -> Callable[[], Any]:
        return lambda: _marketing_report(store, SlaClocks(), now, args.half_life, sections)

    def attribution() -> Any:
        def never() -> Any:
            raise AssertionError("the attribution section read the whole log")

        return store_report(
            store,
            never,
            group_by=[],
            sections=["attribution"],
            reference_given=False,
            half_life_days=args.half_life,
        )

    cases = {
        "attribution section": attribution,
        "page report without sla": page(tuple(s for s in PAGE_SECTIONS if s != "sla")),
        "page report with sla": page(PAGE_SECTIONS),
    }
    before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    rows = []
    for name, call in cases.items():
        with_sla = name.endswith("with sla")
        repeat = args.sla_repeat if with_sla else args.repeat
        median, p95 = timed(call, repeat, warm=not with_sla)
        log(f"{name}: median {median:,.0f} ms, p95 {p95:,.0f} ms")
        rows.append((name, median, p95))
    after = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    print(f"uptime before: {before.strip()}\nuptime after:  {after.strip()}\n")
    print("| what | calls | median ms | p95 ms |\n|---|---:|---:|---:|")
    for name, median, p95 in rows:
        calls = args.sla_repeat if name.endswith("with sla") else args.repeat
        print(f"| {name} | {calls} | {median:,.0f} | {p95:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
