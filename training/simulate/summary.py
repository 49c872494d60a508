"""What a run's weekly table says: acceptance around the drift, recovery, the docs' figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def summarise(
    table: pd.DataFrame,
    drift_week: int,
    within: float = 0.05,
    window: int = 3,
    control: pd.DataFrame | None = None,
) -> dict[str, float | int | None]:
    """Acceptance before the drift, in its first 3 weeks, over the last 3, and the recovery.

    ``weeks_to_recover``: the drift *shows* in the first ``window``-week stretch whose
    mean weekly acceptance falls more than ``within`` below the reference; it is
    recovered at the first later stretch back within ``within``, and the number is how
    many post-drift weeks come before that stretch (0 = the drift never showed; None =
    not recovered within the run). The reference is the pre-drift mean,
    or — given a ``control`` table (the same run without the drift) — the control's mean
    over the same weeks, which takes seasonality out. Weekly acceptance of ~100 handoffs
    has a standard error of ~5 points, hence a 3-week mean rather than a single week.
    """
    rate = table.set_index("week")["acceptance_rate"]
    before = rate[rate.index <= drift_week].mean()
    after = rate[(rate.index > drift_week) & (rate.index <= drift_week + 3)].mean()
    end = rate.tail(3).mean()
    post = rate[rate.index > drift_week]
    reference = pd.Series(before, index=post.index)
    if control is not None:
        reference = control.set_index("week")["acceptance_rate"].reindex(post.index)
    gaps = [
        post.iloc[i : i + window].mean() - reference.iloc[i : i + window].mean()
        for i in range(len(post) - window + 1)
    ]
    hit = next((i for i, gap in enumerate(gaps) if gap < -within), None)
    recover: int | None = 0 if hit is None else None
    if hit is not None:
        recover = next((i for i in range(hit + 1, len(gaps)) if gaps[i] >= -within), None)
    last = table.tail(3)
    return {
        "before_drift": round(before, 3),
        "after_drift": round(after, 3),
        "last_3_weeks": round(end, 3),
        "weeks_to_recover": recover,
        "drift_channel_handoff_share_last_3": round(
            last["drift_channel_handoffs"].sum() / max(last["handoffs"].sum(), 1), 3
        ),
        "drift_channel_acceptance_last_3": round(last["drift_channel_acceptance"].mean(), 3),
        "true_won_per_100_handoffs_last_3": round(
            100 * last["true_won_handed"].sum() / max(last["handoffs"].sum(), 1), 2
        ),
        "true_sql_top_after_drift": round(
            table.loc[table["week"] > drift_week, "true_sql_top"].sum(), 1
        ),
        "true_won_top_after_drift": round(
            table.loc[table["week"] > drift_week, "true_won_top"].sum(), 1
        ),
    }


def plot_acceptance(tables: dict[str, pd.DataFrame], drift_week: int, path: Path) -> Path:
    """Weekly acceptance of handoffs per scenario, the drift week marked: the docs' figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    for name, table in tables.items():
        top.plot(table["week"], table["acceptance_rate"], marker="o", ms=3, label=name)
        share = table["drift_channel_handoffs"] / table["handoffs"].clip(lower=1)
        bottom.plot(table["week"], share, marker="o", ms=3, label=name)
    for ax in (top, bottom):
        ax.axvline(drift_week + 0.5, color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)
    top.set_ylabel("acceptance of handoffs")
    top.set_title(f"Drift after week {drift_week} (dashed)")
    top.legend(fontsize=8)
    bottom.set_ylabel("drifting channel's share\nof handoffs")
    bottom.set_xlabel("week")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
