"""How close can any model get to the synthetic oracle? (issue 10, item 2)

The generator's ``p_won_true`` knows two noise terms no feature can carry: the sd-0.8
logit noise of the sales acceptance and the sd-0.7 logit noise of the win. This script
re-runs the generator's own draws (its private functions, read-only: same seed, same
blocks, so the same leads) and computes, per lead:

* ``oracle`` — the generator's probability, recomputed (checked against ``history.oracle``);
* ``ceiling`` — the same probability with both noise terms integrated out (Gauss–Hermite);
  the hidden flags (bad contact, duplicate, junk) and the latent intent stay known, so
  this is still an upper bound on what observable data allows;
* ``observable`` — ``ceiling`` with the bad-contact and junk flags replaced by their
  probability given what a CRM record shows (channel, a free-mail address); duplicates
  stay known (an earlier lead with the same email is in the data).

and scores them, per stage, on the test period of the default time split. Usage::

    python -m training.ceiling --leads 20000 [--train]

``--train`` also trains leadscore (``training.train.train``, default ``TrainConfig``) and
the logistic baseline on the same history and prints them next to the ceilings.
"""

from __future__ import annotations

import argparse
import time
from itertools import pairwise

import numpy as np
import pandas as pd

from scoring.contract import RejectionReason
from training import synthetic as gen
from training.evaluate import binary_metrics
from training.train import TrainConfig, build_dataset, time_split

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(41)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _expected_sigmoid(logit: np.ndarray, sd: float) -> np.ndarray:
    """E[sigmoid(logit + e)], e ~ N(0, sd²), by Gauss–Hermite quadrature."""
    return gen._sigmoid(logit[:, None] + sd * _NODES[None, :]) @ _WEIGHTS


def lead_probabilities(n_leads: int, months: int = 18, seed: int = 42) -> pd.DataFrame:
    """Oracle, noise-free ceiling and observable ceiling per lead (no drift)."""
    window = gen._make_window("2025-01-01", months, False, None)
    created = gen._draw_arrivals(gen._block_rng(seed, 0), n_leads, window)
    block = np.searchsorted(window.month_edges, created, side="right") - 1
    edges = np.searchsorted(block, np.arange(months + 1))
    parts = []
    for b, (lo, hi) in enumerate(pairwise(edges)):
        if hi <= lo:
            continue
        rng = gen._block_rng(seed, b + 1)
        pop = gen._draw_population(rng, created[lo:hi], window)
        pre = gen._draw_pre_mql_touches(rng, pop)
        engagement, total = gen._engagement(pop, pre)
        # _draw_sales_path's first two draws, in its order: acceptance noise, win noise
        sql_noise = rng.normal(0.0, gen._SQL_NOISE_SD, pop.n)
        win_noise = rng.normal(0.0, gen._WIN_NOISE_SD, pop.n)
        parts.append(_block_probabilities(pop, window, engagement, total, sql_noise, win_noise))
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "lead_id", gen._lead_ids(n_leads))
    return out


def _block_probabilities(
    pop: gen._Population,
    window: gen._Window,
    engagement: np.ndarray,
    total: np.ndarray,
    sql_noise: np.ndarray,
    win_noise: np.ndarray,
) -> pd.DataFrame:
    """The probabilities of one block, from the generator's latents (see the module doc)."""
    flagged = pop.bad_contact | pop.duplicate | pop.junk
    accept_logit = (
        gen._SQL_INTERCEPT
        + pop.fit
        + gen._SQL_ENGAGEMENT * engagement
        + gen._conversion_season(window, pop.mql)
        - pop.hidden_penalty
    )
    reason_p = gen._softmax(gen._reason_logits(pop, engagement, total))
    too_early = reason_p[:, gen._REJECT_OUTCOMES.index(RejectionReason.TOO_EARLY)]
    p_return = gen._sigmoid(gen._RETURN_INTERCEPT + 0.6 * pop.intent + 0.3 * pop.fit)
    win_logit = gen._WIN_INTERCEPT + 0.6 * pop.fit + 0.5 * pop.budget - 0.6 * pop.competition
    win_logit = win_logit + pop.industry_win

    def combine(
        p_accept: np.ndarray, p_win_first: np.ndarray, p_win_return: np.ndarray, clean: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``_draw_sales_path``'s P(SQL) and P(won): accepted now, or rejected as too early
        and back later (with the returner's win bonus); ``clean`` = not flagged."""
        comeback = (1.0 - p_accept) * too_early * p_return
        return (
            clean * (p_accept + comeback),
            clean * (p_accept * p_win_first + comeback * p_win_return),
        )

    clean = (~flagged).astype(float)
    sql_o, won_o = combine(
        gen._sigmoid(accept_logit + sql_noise),
        gen._sigmoid(win_logit + win_noise),
        gen._sigmoid(win_logit + win_noise + gen._WIN_RETURNER_BONUS),
        clean,
    )
    e_accept = _expected_sigmoid(accept_logit, gen._SQL_NOISE_SD)
    e_win = _expected_sigmoid(win_logit, gen._WIN_NOISE_SD)
    e_win_return = _expected_sigmoid(win_logit + gen._WIN_RETURNER_BONUS, gen._WIN_NOISE_SD)
    sql_c, won_c = combine(e_accept, e_win, e_win_return, clean)
    # bad contact and junk given what the record shows: the channel's bad-contact rate,
    # a free-mail address (40 % of bad-contact leads, 6 % of the others)
    bad_rate = np.asarray([r.bad_contact for r in gen._CHANNELS.values()])[pop.channel]
    like_bad = np.where(pop.freemail, 0.4, 0.6) * bad_rate
    like_ok = np.where(pop.freemail, 0.06, 0.94) * (1.0 - bad_rate - gen._JUNK_RATE)
    like_junk = np.where(pop.freemail, 0.06, 0.94) * gen._JUNK_RATE
    p_clean = like_ok / (like_bad + like_ok + like_junk)
    clean_obs = np.where(pop.duplicate, 0.0, p_clean)
    sql_v, won_v = combine(e_accept, e_win, e_win_return, clean_obs)
    return pd.DataFrame(
        {
            "sql_oracle": sql_o,
            "won_oracle": won_o,
            "sql_ceiling": sql_c,
            "won_ceiling": won_c,
            "sql_observable": sql_v,
            "won_observable": won_v,
        }
    )


def stage_scores(frame: pd.DataFrame, rows: np.ndarray, prefix: str) -> dict[str, dict[str, float]]:
    """ROC AUC, log loss and ECE of ``{prefix}`` probabilities on the three stage labels."""
    test = frame[rows]
    p = {
        "y_sql": test[f"sql_{prefix}"].to_numpy(),
        "y_won": test[f"won_{prefix}"].to_numpy(),
        "y_won_given_sql": (test[f"won_{prefix}"] / test[f"sql_{prefix}"].clip(1e-12)).to_numpy(),
    }
    out = {}
    for label, prob in p.items():
        known = test[label].notna().to_numpy()
        m = binary_metrics(test[label].to_numpy()[known], np.clip(prob[known], 1e-9, 1 - 1e-9))
        out[label] = {k: m[k] for k in ("roc_auc", "log_loss", "ece")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    history = gen.generate(args.leads, seed=args.seed)
    probs = lead_probabilities(args.leads, seed=args.seed)
    check = history.oracle.merge(probs, on="lead_id")
    gap = np.abs(check["p_won_true"] - check["won_oracle"]).max()
    assert gap < 1e-9, f"re-run of the generator differs from its oracle by {gap}"
    frame = build_dataset(history).merge(probs, on="lead_id")
    split = time_split(frame["mql_at"], history.snapshot_at, TrainConfig())
    test = (split == "test").to_numpy()
    print(f"{args.leads} leads, seed {args.seed}: {test.sum()} test MQLs")
    table = {p: stage_scores(frame, test, p) for p in ("oracle", "ceiling", "observable")}
    if args.train:
        from scoring.features import FeatureSpec
        from training.pipeline import fit_baseline
        from training.train import train

        t1 = time.perf_counter()
        result = train(history, TrainConfig(), FeatureSpec())
        print(f"trained in {time.perf_counter() - t1:.1f}s")
        ev = result.info["evaluation"]
        keys = {"y_sql": "sql", "y_won": "won", "y_won_given_sql": "won_given_sql"}
        table["leadscore"] = {
            label: {k: ev[stage][k] for k in ("roc_auc", "log_loss", "ece")}
            for label, stage in keys.items()
        }
        base = {}
        for label in keys:
            m = fit_baseline(result, FeatureSpec(), label)
            base[label] = {k: m[k] for k in ("roc_auc", "log_loss", "ece")}
        table["logistic"] = base
    for name, stages in table.items():
        cells = "  ".join(
            f"{label[2:]}: AUC {m['roc_auc']:.4f} LL {m['log_loss']:.4f} ECE {m['ece']:.4f}"
            for label, m in stages.items()
        )
        print(f"{name:>10}  {cells}")
    print(f"({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
