"""Training: from a CRM history to a calibrated :class:`~scoring.model.LeadScorer`.

Steps, each a function so tests and notebooks can run them one at a time:

1. :func:`build_dataset` — point-in-time features at each lead's MQL moment plus the
   stage labels of ``training.labels``;
2. :func:`time_split` — train / validation / test by MQL date, the latest mature
   period being the test (a lead is *mature* once its labels can no longer change);
3. :func:`fit_scorer` — per stage, two candidates on the same split: LightGBM
   (:func:`fit_stage`, early-stopped on validation to choose the number of trees) and a
   one-hot logistic regression (:func:`fit_linear_stage`, its L2 strength chosen on
   validation); the family with the lower validation log loss (:func:`choose_family`)
   is refitted on train + validation (so the most recent months are learned from, not
   only used to choose) and calibrated on out-of-fold margins; plus the fit-only,
   rejection-reason and threshold pieces (always LightGBM);
4. :func:`train` — all of the above, plus evaluation on the test period against a
   logistic-regression baseline (``training.evaluate``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring.calibration import Calibrator, Window, choose_calibration_window
from scoring.contract import RejectionReason, SalesDecision
from scoring.drift import reference_profile
from scoring.features import SILENCE_FEATURES, FeatureSpec, LeadEncoder, frame_features
from scoring.linear import LevelBasis, LinearModel
from scoring.model import LeadScorer, LinearStageModel, Stage, StageModel, quantiles
from scoring.policy import ThresholdPolicy
from training.history import CRMHistory
from training.labels import LabelRules, stage_labels
from training.threshold import PolicyInputs, choose_policy

STAGE_LABELS: dict[str, str] = {"sql": "y_sql", "won_given_sql": "y_won_given_sql", "won": "y_won"}
LGBM_KNOBS: tuple[str, ...] = (
    "reg_lambda",
    "min_child_weight",
    "colsample_bytree",
    "cat_smooth",
    "cat_l2",
    "min_data_per_group",
    "max_cat_threshold",
    "max_cat_to_onehot",
)
"""LightGBM settings that :func:`_lgbm` takes from :class:`TrainConfig` as they are (a
mapping's ``train:`` may set them); their defaults are the values used before they were
settings (LightGBM's own defaults, except ``reg_lambda`` 1 and ``colsample_bytree`` 0.8)."""


FAMILIES: tuple[str, ...] = ("lightgbm", "logistic")
"""The stage model families training can fit (``scoring.model.Family``)."""


@dataclass
class TrainConfig:
    """Everything that decides a training run (logged as MLflow parameters)."""

    seed: int = 42
    label_rules: LabelRules = "aware"
    maturity_days: int = 180
    test_days: int = 60
    valid_days: int = 60
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 3
    """Leaves per tree. 3 (was 15): on the synthetic history, whose effects are additive on
    the logit scale, small trees learn the sum of many categorical effects from fewer rows;
    chosen on the *validation* period (trained on train only, early-stopped): at 20,000
    leads validation log loss 0.5146 vs 0.5200 for P(SQL) and 0.5111 vs 0.5228 for
    P(won | SQL); at 200,000 leads (up to 1,500 trees) 0.5215 vs 0.5225 and 0.5021 vs 0.5043
    (docs/metrics.md, "Closing the gap to the oracle"). Flat exports have their own
    defaults (``training.importing.FLAT_DEFAULTS``)."""
    min_child_samples: int = 40
    early_stopping_rounds: int = 40
    """0 = no early stopping: each stage grows all ``n_estimators`` trees (for validation
    periods too small to choose a tree count on, e.g. a week of sales feedback)."""
    reg_lambda: float = 1.0
    """L2 penalty on leaf values (LightGBM ``lambda_l2``)."""
    min_child_weight: float = 1e-3
    """Smallest sum of hessians in a leaf (LightGBM ``min_sum_hessian_in_leaf``)."""
    colsample_bytree: float = 0.8
    """Share of features each tree may use (LightGBM ``feature_fraction``)."""
    cat_smooth: float = 10.0
    """Categorical splits, LightGBM's defaults: ``cat_smooth`` is added to a category's
    hessian sum before categories are sorted by gradient ratio, and categories with fewer
    rows than it are never listed in a sorted split."""
    cat_l2: float = 10.0
    """L2 penalty in a categorical split's gain."""
    min_data_per_group: int = 100
    """Fewest rows per group of categories in a categorical split."""
    max_cat_threshold: int = 32
    """Most categories listed on one side of a sorted categorical split."""
    max_cat_to_onehot: int = 4
    """Features with at most this many categories get one-vs-rest splits instead."""
    n_jobs: int = 1
    """LightGBM threads. 1 by default: its OpenMP threads busy-wait, and on a small shared
    machine (2 cores, tests or a server next to it) 2 threads were 3-8x *slower* than 1
    (a 6,000-lead training: 6-16 s against 1.9 s). Scores do not depend on it."""
    max_bad_share: float = 0.05
    stages: tuple[str, ...] = ("sql", "won_given_sql")
    split: Literal["time", "stratified"] = "time"
    """``stratified`` is for flat exports without a usable time column."""
    policy: PolicyInputs = field(default_factory=PolicyInputs)
    calibration_folds: int = 5
    """Folds of the out-of-fold margins each stage is calibrated on (see :func:`fit_scorer`)."""
    min_class_rows: int = 20
    """Cold start: each stage needs at least this many positives *and* negatives in train +
    validation, and the test period this many of each for the final outcome, or training
    falls back to the prior of ``training.prior`` (docs/training-rules.md)."""
    baseline_margin: float = 0.05
    """Refusal rule: the model's test ROC AUC must reach the logistic baseline's minus this
    margin, about one standard error of a test ROC AUC measured on ~50 positives
    (docs/training-rules.md)."""
    min_test_auc: float = 0.52
    """Refusal rule: the test ROC AUC a model needs to count as ranking better than chance."""
    recency_half_life_days: float | None = None
    """Sample weight ``0.5 ** (age / half_life)`` by MQL age (relative to the newest
    training row) for the stages in ``recency_stages``: recent feedback counts more than
    old history, so a drift shows up in the model before it dominates the data. ``None``
    (the default) weighs every row the same."""
    recency_stages: tuple[str, ...] = ("sql",)
    """Stages the recency weight applies to. Not ``won_given_sql`` by default: its newest
    labels are the deals that closed fastest (right-censoring), and up-weighting them
    would teach the model the fast closers' profile."""

    families: tuple[str, ...] = FAMILIES
    """Model families each stage fits on the same split; the one that wins on the
    validation period is kept (:func:`choose_family`). One family skips the contest."""
    linear_bins: tuple[int, ...] = (4, 10)
    """Quantile bins per numeric column the logistic candidate tries (plus a missing bin);
    validation log loss picks one, with the L2 strength. Few bins suit a small stage
    (4,000 leads have ~1,500 SQLs), more bins a large one."""
    linear_slopes: tuple[bool, ...] = (False, True)
    """Whether the logistic candidate adds a slope on ``signed_log(x)`` to each numeric
    column's bins; both are tried, validation log loss picks."""
    linear_c_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    """Inverse L2 strengths the logistic candidate tries; validation log loss picks one.
    On the synthetic histories 0.03-0.1 won at 4,000 and 20,000 leads (docs/metrics.md);
    each value is one fit per basis, so the grid is kept short."""

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(
                f"families must be a non-empty subset of {FAMILIES}, got {self.families!r}"
            )

    def params(self) -> dict[str, Any]:
        flat = {k: v for k, v in self.__dict__.items() if k != "policy"}
        flat["stages"] = ",".join(self.stages)
        flat["families"] = ",".join(self.families)
        flat["linear_bins"] = ",".join(str(b) for b in self.linear_bins)
        flat["linear_slopes"] = ",".join(str(b) for b in self.linear_slopes)
        flat["linear_c_grid"] = ",".join(str(c) for c in self.linear_c_grid)
        flat["recency_stages"] = ",".join(self.recency_stages)
        flat.pop("__doc__", None)
        flat.update({f"policy_{k}": v for k, v in self.policy.__dict__.items()})
        return flat


@dataclass
class TrainResult:
    scorer: LeadScorer
    frame: pd.DataFrame
    split: pd.Series
    info: dict[str, Any]


def build_dataset(history: CRMHistory, rules: LabelRules = "aware") -> pd.DataFrame:
    """Features as of each lead's MQL moment, joined to its stage labels.

    Leads that serving scored carry the features *as serving saw them* in
    ``history.extra["served_features"]`` (from the decision log): those replace the
    recomputed ones, so retraining learns from what the model was actually shown.
    """
    frame = frame_features(history.leads, history.touches, history.leads["mql_at"])
    served = history.extra.get("served_features")
    if isinstance(served, pd.DataFrame) and not served.empty:
        served = served.drop_duplicates("lead_id", keep="first").set_index("lead_id")
        columns = [c for c in served.columns if c in frame.columns and c != "lead_id"]
        hit = frame["lead_id"].isin(served.index).to_numpy()
        for col in columns:
            values = served.loc[frame.loc[hit, "lead_id"], col].to_numpy()
            if pd.api.types.is_numeric_dtype(frame[col].dtype):
                values = pd.to_numeric(values, errors="coerce")
            else:
                frame[col] = frame[col].astype(object)
            frame.loc[hit, col] = values
    labels = stage_labels(history, rules).drop(columns=["mql_at"])
    untagged = history.extra.get("untagged_rejections")
    if untagged is not None:
        # the import had to give these rejections a tag to pass validation; the reason
        # model must not learn "no tag" as a reason (labels above are already set)
        labels.loc[labels["lead_id"].isin(list(untagged)), "first_reason"] = None
    frame = frame.merge(labels, on="lead_id", how="left")
    if history.oracle is not None:
        frame = frame.merge(history.oracle, on="lead_id", how="left")
    return frame


def time_split(mql_at: pd.Series, snapshot_at: pd.Timestamp, config: TrainConfig) -> pd.Series:
    """Label each row train / valid / test / immature by its MQL date."""
    mature_end = snapshot_at - pd.Timedelta(days=config.maturity_days)
    test_start = mature_end - pd.Timedelta(days=config.test_days)
    valid_start = test_start - pd.Timedelta(days=config.valid_days)
    split = np.select(
        [mql_at > mature_end, mql_at > test_start, mql_at > valid_start],
        ["immature", "test", "valid"],
        default="train",
    )
    return pd.Series(split, index=mql_at.index, name="split")


def stratified_split(y: pd.Series, config: TrainConfig, share: float = 0.2) -> pd.Series:
    """Random train / valid / test (``share`` each for valid and test), stratified on ``y``.

    Only for data without a trustworthy time column; a time split is always preferred
    because a random split lets the future leak into training.
    """
    rng = np.random.default_rng(config.seed)
    split = pd.Series("immature", index=y.index, name="split")
    for value in y.dropna().unique():
        idx = rng.permutation(y.index[y == value].to_numpy())  # to_numpy() is read-only
        n_test = round(len(idx) * share)
        split[idx[:n_test]] = "test"
        split[idx[n_test : 2 * n_test]] = "valid"
        split[idx[2 * n_test :]] = "train"
    return split


def _lgbm(config: TrainConfig, objective: str = "binary", **extra: Any) -> lgb.LGBMClassifier:
    params: dict[str, Any] = {
        "objective": objective,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "subsample": 0.8,
        "subsample_freq": 1,
        **{knob: getattr(config, knob) for knob in LGBM_KNOBS},
        "random_state": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "n_jobs": config.n_jobs,
        "verbose": -1,
    }
    return lgb.LGBMClassifier(**(params | extra))


def fit_stage(
    spec: FeatureSpec,
    train: pd.DataFrame,
    y_train: np.ndarray,
    valid: pd.DataFrame,
    y_valid: np.ndarray,
    config: TrainConfig,
    encoder: LeadEncoder | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[Pipeline, dict[str, float]]:
    """One stage: ``Pipeline([encode, LightGBM])``, early-stopped on validation.

    ``encoder`` is the scorer's shared, already fitted encoder; it is frozen inside the
    pipeline because every stage booster must see the *same* category codes the scorer
    will feed it. Refitting it on this stage's rows (e.g. only the SQLs) would build a
    different vocabulary and silently shift the codes. Without it, one is fitted here.
    ``sample_weight`` (e.g. :func:`recency_weights`) goes to LightGBM only; the
    validation rows stay unweighted.
    """
    encoder = encoder if encoder is not None else LeadEncoder(spec).fit(train)
    pipe = Pipeline([("encode", FrozenEstimator(encoder)), ("model", _lgbm(config))])
    weights = {} if sample_weight is None else {"model__sample_weight": sample_weight}
    stopping = []
    if config.early_stopping_rounds:
        stopping = [lgb.early_stopping(config.early_stopping_rounds, verbose=False)]
    pipe.fit(
        train,
        y_train,
        **weights,
        model__eval_X=(encoder.transform(valid),),
        model__eval_y=(y_valid,),
        model__categorical_feature=encoder.categorical_indices_,
        model__callbacks=stopping,
    )
    best = pipe.named_steps["model"].best_iteration_ if stopping else config.n_estimators
    return pipe, {"best_iteration": float(best or 0)}


def recency_weights(mql_at: pd.Series, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life)``, the age in days before the newest ``mql_at``."""
    age = (mql_at.max() - mql_at).dt.total_seconds().to_numpy() / 86_400
    return np.power(0.5, age / half_life_days)


def fit_scorer(
    frame: pd.DataFrame,
    split: pd.Series,
    spec: FeatureSpec,
    config: TrainConfig,
    metadata: dict[str, Any] | None = None,
) -> tuple[LeadScorer, dict[str, Any]]:
    """Fit every piece of a :class:`LeadScorer`; train + validation are both learned from.

    Per stage: each family of ``config.families`` is fitted on the training rows and
    scored on the validation rows (early stopping chooses LightGBM's number of trees, the
    validation log loss the logistic regression's L2 strength); the family with the
    lower validation log loss wins (:func:`choose_family`; the comparison is kept in
    ``metadata["families"]`` and ``info["families"]``). The winner is refitted with its
    chosen settings on train + validation, and calibrated on out-of-fold margins of the
    same rows (``calibration_folds`` models, each fitted without the fold it scores).
    Validation is only used to *choose* when it is not also learned from, and on
    drifting data the latest months are the ones that matter most.
    The threshold is chosen on validation scores that no model saw the label of (the
    out-of-fold ones), so the refit does not make it optimistic.
    """
    info: dict[str, Any] = {}
    train_rows, valid_rows = frame[split == "train"], frame[split == "valid"]
    learned_rows = frame[split.isin(["train", "valid"])]
    encoder = LeadEncoder(spec).fit(learned_rows)
    stages: list[Stage] = []
    families: dict[str, dict[str, Any]] = {}
    honest_raw: dict[str, pd.Series] = {}
    for name in config.stages:
        label = STAGE_LABELS[name]
        tr = train_rows[train_rows[label].notna()]
        va = valid_rows[valid_rows[label].notna()]
        if va[label].nunique() < 2:
            # Later stages mature later (a deal closes ~90 days after the SQL): when the
            # validation period has no outcomes yet, validate on the latest labelled fifth.
            tr, va = _latest_fifth(pd.concat([tr, va]), label)
            info.setdefault("validation_fallback", []).append(name)
        if tr[label].nunique() < 2 or va[label].nunique() < 2:
            raise ValueError(f"stage {name}: need both classes in train and validation")
        weight = None
        if config.recency_half_life_days and name in config.recency_stages:
            weight = recency_weights(tr["mql_at"], config.recency_half_life_days)
        pool = pd.concat([tr, va])
        y_pool = pool[label].to_numpy().astype(int)
        pool_weight = None
        if weight is not None:
            pool_weight = recency_weights(pool["mql_at"], config.recency_half_life_days or 1.0)
        pool_matrix = encoder.transform(pool)
        candidates: dict[str, dict[str, Any]] = {}
        stage_info: dict[str, Any] = {}
        if "lightgbm" in config.families:
            pipe, stage_info = fit_stage(
                spec, tr, tr[label].to_numpy(), va, va[label].to_numpy(), config, encoder, weight
            )
            n_trees = max(int(stage_info["best_iteration"]), 1)
            va_p = pipe.named_steps["model"].predict_proba(encoder.transform(va))[:, 1]
            candidates["lightgbm"] = {**_validation_scores(va[label], va_p), "trees": n_trees}
        if "logistic" in config.families:
            basis, l2_c, figures = fit_linear_stage(
                pool_matrix,
                encoder,
                encoder.transform(tr),
                tr[label],
                encoder.transform(va),
                va[label],
                config,
                weight,
            )
            candidates["logistic"] = {**figures, "l2_c": l2_c}
        family = choose_family(candidates)
        families[name] = {"chosen": family, "rule": FAMILY_RULE, "candidates": candidates}
        booster: lgb.Booster | None = None
        linear: LinearModel | None = None
        if family == "lightgbm":
            booster = _fit_trees(pool_matrix, y_pool, n_trees, encoder, config, pool_weight)
            oof = _out_of_fold_raw(pool_matrix, y_pool, n_trees, encoder, config, pool_weight)
            stage_info["trees"] = float(n_trees)
        else:
            linear = _fit_linear(basis, pool_matrix, y_pool, l2_c, pool_weight)
            oof = _out_of_fold_linear(basis, pool_matrix, y_pool, l2_c, config, pool_weight)
            stage_info = {"l2_c": l2_c, "bins": figures["bins"], "slopes": figures["slopes"]}
        calibrator, cal_scores, window = _calibrate(oof, y_pool, pool["mql_at"], config)
        stages.append(
            StageModel(name, booster, calibrator)
            if booster is not None
            else LinearStageModel(name, cast(LinearModel, linear), calibrator)
        )
        honest_raw[name] = pd.Series(oof, index=pool.index)
        info[name] = {
            **stage_info,
            "family": family,
            "calibration": calibrator.method,
            "calibration_rows": "out-of-fold",
            **{f"calibration_logloss_{k}": v for k, v in cal_scores.items()},
            "calibration_window": window.describe(),
            "calibration_window_detail": window.to_dict(),
            "train_rows": len(tr),
            "valid_rows": len(va),
            "refit_rows": len(pool),
        }
        if pool_weight is not None:
            # Kish's effective sample size: how many equally weighted rows the weights are worth
            info[name]["train_effective_rows"] = float(
                pool_weight.sum() ** 2 / (pool_weight**2).sum()
            )

    scorer = LeadScorer(
        spec=spec,
        encoder=encoder,
        stages=stages,
        # a stand-in until the validation scores exist to choose the real one (below);
        # not choose_policy(): acceptance_rate cannot run without scores
        policy=ThresholdPolicy(1.0, config.policy.disqualify_below, "unset"),
        metadata={**(metadata or {}), "families": families},
    )
    scorer.metadata["calibration_windows"] = {
        s.name: info[s.name]["calibration_window_detail"] for s in stages
    }
    info["families"] = families
    fit_extras(scorer, learned_rows, encoder, config)
    probs = _honest_probabilities(scorer, valid_rows, honest_raw)
    p_won = np.prod(list(probs.values()), axis=0)
    y_sql = valid_rows["y_sql"].to_numpy() if "y_sql" in valid_rows else None
    if y_sql is not None and np.isnan(y_sql).any():
        y_sql = None
    scorer.policy = choose_policy(
        p_won, probs.get("sql"), valid_rows["mql_at"], config.policy, y_sql
    )
    # what the model learned from, compact: serving measures drift (PSI) against it
    learned_p_won = np.prod(
        list(_honest_probabilities(scorer, learned_rows, honest_raw).values()), axis=0
    )
    scorer.metadata["reference_profile"] = reference_profile(
        learned_rows.assign(p_won=learned_p_won)
    )
    info["policy"] = scorer.policy.to_dict()
    return scorer, info


def fit_extras(
    scorer: LeadScorer, rows: pd.DataFrame, encoder: LeadEncoder, config: TrainConfig
) -> None:
    """The fit-only model, the engagement distribution and the rejection-reason model."""
    matrix = encoder.transform(rows)
    fit_label = STAGE_LABELS[config.stages[0]]
    scorer.fit_feature_idx = scorer.fit_feature_mask()
    has_fit = rows[fit_label].notna().to_numpy()
    if scorer.fit_feature_idx and has_fit.sum() > 100:
        # small on purpose: it only ranks firmographic fit, and it runs on every request
        fit_clf = _lgbm(config, n_estimators=60, learning_rate=0.1, num_leaves=7)
        fit_idx = scorer.fit_feature_idx
        cat_in_fit = [i for i, j in enumerate(fit_idx) if j in encoder.categorical_indices_]
        fit_clf.fit(
            matrix[has_fit][:, fit_idx],
            rows.loc[has_fit, fit_label].to_numpy(),
            categorical_feature=cat_in_fit,
        )
        scorer.fit_model = fit_clf.booster_
        scorer.fit_quantiles = quantiles(
            scorer.fit_model.predict(matrix[:, fit_idx], raw_score=True)
        )
    if scorer._engagement_idx is not None:
        scorer.engagement_quantiles = quantiles(matrix[:, scorer._engagement_idx])
    scorer.reason_model, scorer.reason_classes, scorer.reason_quality = _fit_reason_model(
        rows, matrix, encoder, config
    )


def _fit_trees(
    matrix: np.ndarray,
    y: np.ndarray,
    n_trees: int,
    encoder: LeadEncoder,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> lgb.Booster:
    """A booster of exactly ``n_trees`` trees (no early stopping) on encoded rows."""
    clf = _lgbm(config, n_estimators=n_trees)
    clf.fit(matrix, y, sample_weight=weight, categorical_feature=encoder.categorical_indices_)
    return clf.booster_


def _out_of_fold_raw(
    matrix: np.ndarray,
    y: np.ndarray,
    n_trees: int,
    encoder: LeadEncoder,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> np.ndarray:
    """Each row's raw margin from a booster fitted without it (stratified folds)."""

    def fold(fit_idx: np.ndarray, out_idx: np.ndarray) -> np.ndarray:
        w = _take(weight, fit_idx)
        booster = _fit_trees(matrix[fit_idx], y[fit_idx], n_trees, encoder, config, w)
        return np.asarray(booster.predict(matrix[out_idx], raw_score=True))

    return _out_of_fold(y, config, fold)


def _out_of_fold_linear(
    basis: LevelBasis,
    matrix: np.ndarray,
    y: np.ndarray,
    l2_c: float,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> np.ndarray:
    """Each row's raw margin from a logistic regression fitted without it."""

    def fold(fit_idx: np.ndarray, out_idx: np.ndarray) -> np.ndarray:
        model = _fit_linear(basis, matrix[fit_idx], y[fit_idx], l2_c, _take(weight, fit_idx))
        return model.raw(matrix[out_idx])

    return _out_of_fold(y, config, fold)


def _out_of_fold(
    y: np.ndarray,
    config: TrainConfig,
    fold: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Each row's raw margin from a model fitted without it: ``fold(fit_idx, out_idx)``
    fits on the first positions and returns the margins of the second (stratified folds,
    the same for every family)."""
    folds = int(min(config.calibration_folds, np.bincount(y, minlength=2).min()))
    if folds < 2:
        raise ValueError("out-of-fold calibration needs at least 2 rows of each class")
    oof = np.empty(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for fit_idx, out_idx in splitter.split(np.zeros((len(y), 1)), y):
        oof[out_idx] = fold(fit_idx, out_idx)
    return oof


def _calibrate(
    oof: np.ndarray, y: np.ndarray, mql_at: pd.Series, config: TrainConfig
) -> tuple[Calibrator, dict[str, float], Window]:
    """The stage's calibrator, on the out-of-fold margins of the window drift calls for.

    :func:`scoring.calibration.choose_calibration_window` compares calibrating on every
    learned row with calibrating on the most recent third, forward in time; a flat export
    without dates (every ``mql_at`` the placeholder) is calibrated on all rows.
    """
    when = pd.to_datetime(mql_at, utc=True).dt.tz_localize(None).to_numpy()
    return choose_calibration_window(oof, y, when, seed=config.seed)


def _take(weight: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[idx]


FAMILY_RULE = (
    "lowest log loss on the validation period (to 4 decimals), then highest ROC AUC; "
    "the winner is refitted on train + validation"
)


def choose_family(candidates: dict[str, dict[str, Any]]) -> str:
    """The candidate with the lowest validation log loss, ROC AUC breaking a tie.

    Log losses are compared to 4 decimals: closer than that, the difference is noise on
    any validation period leadscore sees, and ranking decides. Candidates keep the order
    of ``TrainConfig.families`` when both figures tie.
    """
    if not candidates:
        raise ValueError("no model family to fit (TrainConfig.families is empty)")
    return min(
        candidates,
        key=lambda f: (round(candidates[f]["val_log_loss"], 4), -candidates[f]["val_roc_auc"]),
    )


def family_metrics(families: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The family contest as MLflow metrics:
    ``candidate_<family>_val_logloss_<stage>`` and ``candidate_<family>_val_roc_auc_<stage>``."""
    out: dict[str, float] = {}
    for stage, contest in families.items():
        for family, figures in contest["candidates"].items():
            out[f"candidate_{family}_val_logloss_{stage}"] = float(figures["val_log_loss"])
            out[f"candidate_{family}_val_roc_auc_{stage}"] = float(figures["val_roc_auc"])
    return out


def _validation_scores(y: pd.Series | np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    return {
        "val_log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "val_roc_auc": float(roc_auc_score(y, p)),
    }


def linear_basis(
    matrix: np.ndarray, encoder: LeadEncoder, bins: int, slopes: bool = False
) -> LevelBasis:
    """The logistic candidate's levels: one per category code of the (rare-pooling)
    encoder, ``bins`` quantile bins for every other column (with ``slopes``, plus a slope
    on its signed log), a missing level each."""
    sizes = [len(encoder.vocabularies_[col]) for col in encoder._spec().categorical]
    names = list(encoder.feature_names_out_)
    decreasing = [names.index(c) for c in SILENCE_FEATURES if c in names]
    return LevelBasis.fit(matrix, encoder.categorical_indices_, sizes, bins, slopes, decreasing)


def _fit_linear(
    basis: LevelBasis,
    matrix: np.ndarray,
    y: np.ndarray,
    l2_c: float,
    weight: np.ndarray | None,
) -> LinearModel:
    """A one-hot logistic regression with L2 strength ``1 / l2_c``, as a :class:`LinearModel`."""
    design = basis.one_hot(matrix)
    clf = LogisticRegression(C=l2_c, max_iter=2000)
    clf.fit(design, np.asarray(y, dtype=int), sample_weight=weight)
    coef = basis.monotone(clf.coef_[0], design)
    return LinearModel.from_coefficients(
        basis, coef, float(clf.intercept_[0]), matrix, l2_c, weight
    )


def fit_linear_stage(
    basis_rows: np.ndarray,
    encoder: LeadEncoder,
    train_matrix: np.ndarray,
    y_train: pd.Series | np.ndarray,
    valid_matrix: np.ndarray,
    y_valid: pd.Series | np.ndarray,
    config: TrainConfig,
    sample_weight: np.ndarray | None = None,
) -> tuple[LevelBasis, float, dict[str, Any]]:
    """The logistic candidate: the basis and L2 strength with the lowest validation log loss.

    Each (``linear_bins``, ``linear_slopes``, ``linear_c_grid``) combination is fitted
    on the training rows and scored on the validation rows, the way early stopping
    chooses the tree count for LightGBM, so both candidates are judged on the same
    period. The bin edges come from
    ``basis_rows`` (train + validation: edges need no label). Returns the chosen basis,
    ``C`` and validation figures.
    """
    y_tr = np.asarray(y_train, dtype=int)
    best: tuple[LevelBasis, float, dict[str, Any]] | None = None
    for bins, slopes in itertools.product(config.linear_bins, config.linear_slopes):
        basis = linear_basis(basis_rows, encoder, bins, slopes)
        design, valid_design = basis.one_hot(train_matrix), basis.one_hot(valid_matrix)
        # weakest penalty last, each fit starting from the previous one's coefficients
        clf = LogisticRegression(max_iter=2000, warm_start=True)
        for c in sorted(config.linear_c_grid):
            clf.set_params(C=c).fit(design, y_tr, sample_weight=sample_weight)
            coef = basis.monotone(clf.coef_[0], design)
            p = expit(valid_design @ coef + clf.intercept_[0])
            figures = {**_validation_scores(y_valid, p), "bins": bins, "slopes": slopes}
            if best is None or figures["val_log_loss"] < best[2]["val_log_loss"]:
                best = (basis, c, figures)
    if best is None:
        raise ValueError("linear_bins and linear_c_grid must not be empty")
    return best


def _honest_probabilities(
    scorer: LeadScorer, rows: pd.DataFrame, honest_raw: dict[str, pd.Series]
) -> dict[str, np.ndarray]:
    """Stage probabilities of ``rows`` from margins no model saw the label of.

    A row a stage learned from gets its out-of-fold margin; any other row (e.g. a lead
    that never became an SQL, for the SQL→won stage) is out of sample for the final
    booster already.
    """
    matrix = scorer.encoder.transform(rows)
    out: dict[str, np.ndarray] = {}
    for stage in scorer.stages:
        raw = pd.Series(stage.raw(matrix), index=rows.index)
        oof = honest_raw.get(stage.name)
        if oof is not None:
            known = raw.index.isin(oof.index)
            raw[known] = oof.reindex(raw.index[known]).to_numpy()
        out[stage.name] = stage.calibrator.transform(raw.to_numpy())
    return out


def _latest_fifth(rows: pd.DataFrame, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split labelled rows by MQL time: the latest 20 % validate, the rest train."""
    ordered = rows.sort_values("mql_at", kind="stable")
    cut = int(len(ordered) * 0.8)
    return ordered.iloc[:cut], ordered.iloc[cut:]


REASON_MIN_ROWS = 20
"""A tag needs this many tagged rejections to be a class of the reason model, and the
held-out part needs this many rows for its verdict to mean anything."""


def tagged_rejections(rows: pd.DataFrame) -> np.ndarray:
    """Rejected leads whose first rejection carries a known tag.

    A missing tag is not a class: an untagged rejection says nothing about *why*, so it
    is neither learned from nor scored against (``build_dataset`` blanks the tags an
    import had to fill in).
    """
    if "first_decision" not in rows:
        return np.zeros(len(rows), dtype=bool)
    rejected = (rows["first_decision"] == SalesDecision.REJECTED.value).to_numpy()
    reasons = rows["first_reason"]
    known = reasons.notna() & reasons.astype(str).isin({r.value for r in RejectionReason})
    return rejected & known.to_numpy()


def _reason_holdout(rows: pd.DataFrame, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the reason model's fit and validation rows: the latest fifth by MQL
    time validates (a seeded random fifth when the split is stratified: no dates)."""
    n = len(rows)
    if config.split == "stratified":
        order = np.random.default_rng(config.seed).permutation(n)
    else:
        order = np.argsort(rows["mql_at"].to_numpy(), kind="stable")
    cut = int(n * 0.8)
    return order[:cut], order[cut:]


def _fit_reason_model(
    rows: pd.DataFrame, matrix: np.ndarray, encoder: LeadEncoder, config: TrainConfig
) -> tuple[lgb.Booster | None, list[str], dict[str, Any]]:
    """P(reason | rejected): why sales would turn this lead down, if it did.

    Learned only from tagged rejections. It is first fitted on the earlier 80 % of them
    and judged on the latest 20 % against two baselines fitted on the same earlier
    rows — always naming the most common reason (top-1 accuracy) and the class prior
    (log loss). It is *reliable* only if it beats both (``REASON_RULE``); serving shows a
    likely reason only then. The model kept is refitted on all tagged rejections.
    """
    tagged = tagged_rejections(rows)
    reasons = rows["first_reason"].to_numpy() if "first_reason" in rows else None
    if reasons is None or not tagged.any():
        return None, [], {"reliable": False, "rule": REASON_RULE, "why": "no tagged rejections"}
    counts = pd.Series(reasons[tagged]).value_counts()
    classes = sorted(str(c) for c in counts[counts >= REASON_MIN_ROWS].index)
    quality: dict[str, Any] = {"reliable": False, "rule": REASON_RULE, "classes": classes}
    quality["tagged_rows"] = int(tagged.sum())
    if len(classes) < 2:
        quality["why"] = f"fewer than 2 tags with {REASON_MIN_ROWS} tagged rejections"
        return None, [], quality
    keep = np.flatnonzero(tagged & np.isin(reasons, classes))
    y = pd.Categorical(reasons[keep], categories=classes).codes.astype(int)
    fit_pos, valid_pos = _reason_holdout(rows.iloc[keep], config)
    if len(valid_pos) < REASON_MIN_ROWS or len(np.unique(y[fit_pos])) < len(classes):
        quality["why"] = "too few tagged rejections of each reason to validate on"
    else:
        early = _reason_booster(matrix[keep[fit_pos]], y[fit_pos], len(classes), encoder, config)
        proba = early.predict(matrix[keep[valid_pos]]).reshape(len(valid_pos), -1)
        valid = reason_metrics(proba, y[valid_pos], class_prior(y[fit_pos], len(classes)))
        quality["valid"] = valid
        quality["reliable"] = bool(
            valid["top1_accuracy"] > valid["baseline_top1_accuracy"]
            and valid["log_loss"] < valid["prior_log_loss"]
        )
    quality["prior"] = class_prior(y, len(classes)).tolist()
    booster = _reason_booster(matrix[keep], y, len(classes), encoder, config)
    return booster, classes, quality


REASON_RULE = (
    "shown only if, on the latest 20 % of tagged rejections, top-1 accuracy beats always "
    "naming the most common reason and log loss beats the class prior"
)


def _reason_booster(
    matrix: np.ndarray, y: np.ndarray, n_classes: int, encoder: LeadEncoder, config: TrainConfig
) -> lgb.Booster:
    # one tree per class per round: kept small, it runs for every handed-over lead
    clf = _lgbm(config, objective="multiclass", n_estimators=40, learning_rate=0.1, num_leaves=7)
    clf.fit(matrix, y, categorical_feature=encoder.categorical_indices_)
    assert clf.n_classes_ == n_classes, "every reason must be among the rows (callers check)"
    return clf.booster_


def reason_test_metrics(scorer: LeadScorer, rows: pd.DataFrame) -> dict[str, float]:
    """The reason model's figures on held-out ``rows`` (the test period), against the
    prior of the tagged rejections it was fitted on; ``{}`` without a model or tags."""
    prior = scorer.reason_quality.get("prior")
    if scorer.reason_model is None or not prior:
        return {}
    known = tagged_rejections(rows) & rows["first_reason"].isin(scorer.reason_classes).to_numpy()
    if not known.any():
        return {}
    y = pd.Categorical(rows["first_reason"][known], categories=scorer.reason_classes).codes
    proba = scorer.reason_model.predict(scorer.encoder.transform(rows[known]))
    return reason_metrics(proba.reshape(int(known.sum()), -1), y.astype(int), np.asarray(prior))


def class_prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class frequencies with add-one smoothing (a class absent from ``y`` stays finite)."""
    counts = np.bincount(y, minlength=n_classes).astype(float) + 1.0
    return counts / counts.sum()


def reason_metrics(proba: np.ndarray, y: np.ndarray, prior: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and log loss of ``proba``, and of the two baselines: always the most
    common reason of ``prior``, and ``prior`` itself as the probabilities."""
    eps = 1e-15
    rows = np.arange(len(y))
    p = np.clip(proba, eps, 1.0)
    return {
        "rows": float(len(y)),
        "top1_accuracy": float((proba.argmax(axis=1) == y).mean()),
        "log_loss": float(-np.log(p[rows, y] / p.sum(axis=1)).mean()),
        "baseline_top1_accuracy": float((y == int(prior.argmax())).mean()),
        "prior_log_loss": float(-np.log(np.clip(prior[y], eps, 1.0)).mean()),
    }


def baseline_model(spec: FeatureSpec) -> Pipeline:
    """Logistic regression on one-hot categories and scaled log-counts: the honest baseline."""
    categorical = [*spec.categorical, *spec.ordinal, *spec.boolean]
    numeric = list(spec.numeric_columns)
    pre = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(lambda x: x.astype(str), feature_names_out="one-to-one"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                categorical,
            ),
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                numeric,
            ),
        ]
    )
    return Pipeline([("features", pre), ("model", LogisticRegression(C=0.5, max_iter=2000))])


def train(
    history: CRMHistory,
    config: TrainConfig | None = None,
    spec: FeatureSpec | None = None,
    metadata: dict[str, Any] | None = None,
    *,
    force: bool = False,
    judged: str = "y_won",
) -> TrainResult:
    """Build the dataset, split it in time, fit and evaluate a scorer (no MLflow here).

    With too little data (``training.prior.cold_start_reasons``) the scorer is the
    documented prior, ``info["model_kind"] == "prior"``; ``force`` fits a learned model
    anyway whenever the data has both classes to fit it on. ``judged`` is the label the
    test period must hold enough of both classes of (the promotion metric's).
    """
    from training.evaluate import evaluate_split
    from training.prior import cold_start_reasons, fit_prior

    config = config or TrainConfig()
    spec = spec or FeatureSpec()
    frame = build_dataset(history, config.label_rules)
    if config.split == "stratified":
        split = stratified_split(frame[STAGE_LABELS[config.stages[-1]]], config)
    else:
        split = time_split(frame["mql_at"], history.snapshot_at, config)
    shortfall = cold_start_reasons(frame, split, config.stages, config.min_class_rows, judged)
    fitted = None
    if not shortfall or force:
        try:
            fitted = fit_scorer(frame, split, spec, config, metadata)
        except ValueError as exc:  # one class only: nothing to learn, even when forced
            shortfall = [*shortfall, str(exc)]
    if fitted is None:
        scorer, info = fit_prior(frame, split, spec, config, metadata, shortfall)
    else:
        scorer, info = fitted
        info["model_kind"] = scorer.metadata["model_kind"] = "learned"
        if shortfall:
            info["forced_past"] = shortfall
    info["cold_start"] = shortfall
    info["evaluation"] = evaluate_split(scorer, frame, split, spec)
    reason = reason_test_metrics(scorer, frame[split == "test"])
    if reason:
        info["evaluation"]["reason"] = reason
    info["split_rows"] = split.value_counts().to_dict()
    return TrainResult(scorer, frame, split, info)
