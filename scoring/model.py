"""The model wrapper: everything needed to turn a lead into scores, a decision and reasons.

A :class:`LeadScorer` bundles, for one model version:

* the fitted :class:`~scoring.features.LeadEncoder` (vocabularies, feature order);
* a chain of calibrated stage models (:mod:`scoring.stages`) whose product is
  P(won | MQL), each LightGBM or a logistic regression (:mod:`scoring.linear`, whichever
  won on validation): by default
  ``sql`` (MQL→SQL) then ``won_given_sql`` (SQL→won); a flat CRM export with one
  outcome column has a single ``won`` stage;
* a fit-only model (firmographics only) for the fit score, and the training
  distribution of the engagement index for the engagement score, both reported
  as percentiles ("better fit than 83 % of past MQLs");
* a rejection-reason model, P(reason | rejected), so a handed-over lead comes with
  "likely to be rejected as: too early";
* the :class:`~scoring.policy.ThresholdPolicy` it was tuned with.

It is saved as a folder of plain files — LightGBM text models, JSON linear stages and
one JSON file for the rest — with a checksum manifest, so a truncated or tampered
artifact is refused *before* LightGBM parses it (LightGBM aborts the interpreter on
some corrupt files).
The hot path works on numpy rows; no DataFrame is built per request.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.calibration import Calibrator
from scoring.explain import FIT_FIELDS, FieldMap, ReasonCoder, top_reasons
from scoring.features import (
    FeatureSpec,
    LeadEncoder,
    _to_ns,
    record_features,
)
from scoring.linear import LinearModel
from scoring.policy import BANDS, ThresholdPolicy
from scoring.rowpredict import RowPredictor
from scoring.shap_tables import SINGLE_ROW_MIN_WORK, ShapTables, TablesUnavailable
from scoring.stages import SMALL_BATCH as SMALL_BATCH  # re-exported: the stages moved
from scoring.stages import Family as Family
from scoring.stages import LinearStageModel as LinearStageModel
from scoring.stages import Stage as Stage
from scoring.stages import StageModel as StageModel
from scoring.stages import _threads as _threads

FORMAT_VERSION = 2
"""2: stages name their family (``lightgbm`` or ``logistic``; a linear stage is a JSON
file). Version 1 folders, all LightGBM, still load."""
READABLE_VERSIONS = frozenset({1, 2})
MANIFEST = "checksums.json"


class ArtifactError(RuntimeError):
    """The model folder is incomplete, corrupt or of an unknown format."""


@dataclass
class Scores:
    """Vectorised scores for a batch of leads (one entry per lead)."""

    p_won: np.ndarray
    p_sql: np.ndarray | None
    fit_score: np.ndarray
    engagement_score: np.ndarray | None
    bands: np.ndarray
    raw: np.ndarray
    likely_rejection: list[tuple[str, float] | None]
    unseen: list[set[str]]
    matrix: np.ndarray
    reasons: list[dict[str, list[dict[str, Any]]]] | None = None
    field_contributions: np.ndarray | None = None
    base_value: np.ndarray | None = None


@dataclass
class LeadScorer:
    """A versioned, self-contained lead scoring model. See the module docstring."""

    spec: FeatureSpec
    encoder: LeadEncoder
    stages: list[Stage]
    policy: ThresholdPolicy
    fit_model: lgb.Booster | None = None
    fit_feature_idx: list[int] = field(default_factory=list)
    fit_quantiles: list[float] = field(default_factory=list)
    engagement_quantiles: list[float] = field(default_factory=list)
    reason_model: lgb.Booster | None = None
    reason_classes: list[str] = field(default_factory=list)
    reason_quality: dict[str, Any] = field(default_factory=dict)
    """The reason model's validation figures and verdict (``training.train.REASON_RULE``):
    ``reliable`` true only if it beat its baselines; a model saved before the verdict
    existed has none, so it gives no estimate rather than an unchecked one."""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shap_tables_fallback: str | None = None
        """Why reasons use LightGBM's ``pred_contrib`` rather than the tables (set when
        :attr:`shap_tables` is first built and cannot be)."""
        self.feature_names: list[str] = list(self.encoder.feature_names_out_)
        self.field_map = FieldMap.build(self.spec, self.feature_names)
        self.reason_coder = ReasonCoder(self.spec, self.encoder.vocabularies_)
        self._engagement_idx = (
            self.feature_names.index("engagement_recency")
            if "engagement_recency" in self.feature_names
            else None
        )
        self._silence_idx = (
            self.feature_names.index("days_since_last_touch")
            if "days_since_last_touch" in self.feature_names
            else None
        )

    # --- inputs ---------------------------------------------------------------------

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def encode_records(
        self, records: Sequence[Mapping[str, Any]], as_of: Sequence[Any]
    ) -> tuple[np.ndarray, list[set[str]]]:
        """Lead dicts (data-contract fields plus a ``touches`` list) to the model matrix."""
        columns: dict[str, Any] = {
            col: [r.get(col) for r in records] for col in self.spec.input_columns
        }
        if self.spec.use_touches:
            columns.update(record_features(records, _to_ns(list(as_of))))
        return self.encoder.encode(columns)

    # --- scoring --------------------------------------------------------------------

    def score_matrix(
        self,
        matrix: np.ndarray,
        *,
        unseen: list[set[str]] | None = None,
        reasons: int = 0,
        raws: Sequence[Mapping[str, Any]] | None = None,
        exact_shap: bool = False,
    ) -> Scores:
        """Score an encoded matrix; compute reasons (the costly part) only if asked.

        Contributions come from :meth:`contributions` (the TreeSHAP tables when the
        stages allow them; ``exact_shap`` asks LightGBM's own ``pred_contrib``).
        """
        n = matrix.shape[0]
        raw_by_stage = [stage.raw(matrix) for stage in self.stages]
        probs = [s.calibrator.transform(r) for s, r in zip(self.stages, raw_by_stage, strict=True)]
        p_won = np.prod(probs, axis=0)
        p_sql = probs[0] if len(self.stages) > 1 else None
        bands = self.policy.decide(p_won, p_sql, self._days_silent(matrix))
        result = Scores(
            p_won=p_won,
            p_sql=p_sql,
            fit_score=self._fit_score(matrix),
            engagement_score=self._engagement_score(matrix),
            bands=bands,
            raw=np.sum(raw_by_stage, axis=0),
            likely_rejection=self._likely_rejection(matrix, bands),
            unseen=unseen if unseen is not None else [set() for _ in range(n)],
            matrix=matrix,
        )
        if reasons > 0:
            contrib = self.contributions(matrix, exact_shap=exact_shap)
            field_contrib, base = self.field_map.aggregate(contrib)
            rows = [dict(zip(self.feature_names, row, strict=True)) for row in matrix.tolist()]
            result.reasons = top_reasons(
                field_contrib,
                self.field_map.fields,
                rows,
                raws if raws is not None else [{}] * n,
                self.reason_coder,
                reasons,
                result.unseen,
            )
            result.field_contributions = field_contrib
            result.base_value = base
        return result

    def score_records(
        self,
        records: Sequence[Mapping[str, Any]],
        as_of: Sequence[Any],
        *,
        reasons: int = 0,
    ) -> Scores:
        matrix, unseen = self.encode_records(records, as_of)
        return self.score_matrix(matrix, unseen=unseen, reasons=reasons, raws=records)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score a frame that already holds point-in-time features (training, evaluation)."""
        matrix, unseen = self.encoder.encode(frame)
        scores = self.score_matrix(matrix, unseen=unseen)
        out = pd.DataFrame({"p_won": scores.p_won}, index=frame.index)
        if scores.p_sql is not None:
            out["p_sql"] = scores.p_sql
        out["decision"] = [BANDS[b].value for b in scores.bands]
        return out

    def contributions(self, matrix: np.ndarray, *, exact_shap: bool = False) -> np.ndarray:
        """Per-feature contributions of all stages summed, the bias last (``pred_contrib``
        layout): the sum the reasons are ranked on.

        LightGBM stages go through :class:`~scoring.shap_tables.ShapTables` (the same
        TreeSHAP values by table look-up, several times faster) unless ``exact_shap`` or
        the tables do not cover the model (:attr:`shap_tables_fallback` says why), or a
        single row of a model too small for the tables to pay
        (:data:`~scoring.shap_tables.SINGLE_ROW_MIN_WORK`); then each stage's
        ``pred_contrib``. Linear stages' contributions are exact and cheap either way.
        """
        tables = None if exact_shap else self.shap_tables
        if tables is not None and matrix.shape[0] == 1 and tables.path_work < SINGLE_ROW_MIN_WORK:
            tables = None
        if tables is None:
            return cast(np.ndarray, sum(stage.contributions(matrix) for stage in self.stages))
        total = tables.contributions(matrix)
        for stage in self.stages:
            if not isinstance(stage, StageModel):
                total += stage.contributions(matrix)
        return total

    @functools.cached_property
    def shap_tables(self) -> ShapTables | None:
        """The LightGBM stages' TreeSHAP tables, built on first use (serving's load-time
        smoke request builds them), or ``None`` with :attr:`shap_tables_fallback` set."""
        boosters = [stage.booster for stage in self.stages if isinstance(stage, StageModel)]
        if not boosters:
            self.shap_tables_fallback = "no LightGBM stage"
            return None
        try:
            return ShapTables.from_boosters(boosters)
        except TablesUnavailable as exc:
            self.shap_tables_fallback = str(exc)
            return None

    def stage_probabilities(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        return {s.name: s.calibrator.transform(s.raw(matrix)) for s in self.stages}

    def _fit_score(self, matrix: np.ndarray) -> np.ndarray:
        if self.fit_model is None:
            return np.full(matrix.shape[0], np.nan)
        columns = matrix[:, self.fit_feature_idx]
        if matrix.shape[0] == 1:
            fit_raw = self._fit_row(columns[0])
        else:
            fit_raw = cast(
                np.ndarray,
                self.fit_model.predict(columns, raw_score=True, num_threads=_threads(matrix)),
            )
        return _percentile(fit_raw, self.fit_quantiles)

    def _days_silent(self, matrix: np.ndarray) -> np.ndarray | None:
        """Days since the last touch, for the policy's decay rule (``None``: no touch data)."""
        return None if self._silence_idx is None else matrix[:, self._silence_idx]

    def _engagement_score(self, matrix: np.ndarray) -> np.ndarray | None:
        if self._engagement_idx is None:
            return None
        return _percentile(matrix[:, self._engagement_idx], self.engagement_quantiles)

    def _likely_rejection(
        self, matrix: np.ndarray, bands: np.ndarray
    ) -> list[tuple[str, float] | None]:
        """For handed-over leads: the rejection reason sales would most likely give
        (``None`` for all when the reason model is not reliable: no estimate beats a guess
        that does no better than naming the most common reason)."""
        out: list[tuple[str, float] | None] = [None] * matrix.shape[0]
        handed = np.flatnonzero(bands == 2)
        if not self.reason_reliable or handed.size == 0:
            return out
        assert self.reason_model is not None
        if handed.size == 1:
            proba = self._reason_row(matrix[handed[0]])
        else:
            proba = cast(
                np.ndarray,
                self.reason_model.predict(matrix[handed], num_threads=_threads(matrix[handed])),
            )
        proba = proba.reshape(len(handed), -1)
        best = proba.argmax(axis=1)
        for i, j, p in zip(handed, best, proba[np.arange(len(handed)), best], strict=True):
            out[i] = (self.reason_classes[j], float(p))
        return out

    @property
    def reason_reliable(self) -> bool:
        """Whether a likely rejection reason may be shown (its model beat its baselines)."""
        return self.reason_model is not None and bool(self.reason_quality.get("reliable"))

    @functools.cached_property
    def _fit_row(self) -> RowPredictor:
        assert self.fit_model is not None
        return RowPredictor(self.fit_model, "raw")

    @functools.cached_property
    def _reason_row(self) -> RowPredictor:
        assert self.reason_model is not None
        return RowPredictor(self.reason_model, "proba")

    def fit_feature_mask(self) -> list[int]:
        """Columns describing who the lead is (used by the fit-only model)."""
        owners = [
            name
            for name in self.feature_names
            if name in FIT_FIELDS or name in self.spec.categorical or name in self.spec.ordinal
        ]
        return [self.feature_names.index(n) for n in owners if n not in {"channel", "campaign"}]

    # --- persistence ----------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        """Write the model as plain files plus a sha256 manifest."""
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        for stage in self.stages:
            if isinstance(stage, StageModel):
                files[stage_file(stage.name, "lightgbm")] = stage.booster.model_to_string()
            elif isinstance(stage, LinearStageModel):
                files[stage_file(stage.name, "logistic")] = json.dumps(stage.linear.to_dict())
            else:
                raise TypeError(f"cannot save a stage of type {type(stage).__name__}")
        if self.fit_model is not None:
            files["fit_model.txt"] = self.fit_model.model_to_string()
        if self.reason_model is not None:
            files["reason_model.txt"] = self.reason_model.model_to_string()
        meta = {
            "format_version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "encoder": {
                "min_category_count": self.encoder.min_category_count,
                "vocabularies": self.encoder.vocabularies_,
                "rare_values": {k: sorted(v) for k, v in self.encoder.rare_values_.items()},
                "feature_names": self.feature_names,
            },
            "stages": [
                {"name": s.name, "family": s.family, "calibrator": s.calibrator.to_dict()}
                for s in self.stages
            ],
            "policy": self.policy.to_dict(),
            "fit_feature_idx": self.fit_feature_idx,
            "fit_quantiles": self.fit_quantiles,
            "engagement_quantiles": self.engagement_quantiles,
            "reason_classes": self.reason_classes,
            "reason_quality": self.reason_quality,
            "metadata": self.metadata,
        }
        files["scorer.json"] = json.dumps(meta, indent=1, default=str)
        for name, text in files.items():
            (folder / name).write_text(text)
        manifest = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: Path) -> LeadScorer:
        """Load a saved model, refusing it if any file is missing or fails its checksum."""
        texts = verify_folder(folder)
        try:
            meta = json.loads(texts["scorer.json"])
        except ValueError as exc:
            raise ArtifactError(f"scorer.json is not valid JSON: {exc}") from exc
        if meta.get("format_version") not in READABLE_VERSIONS:
            raise ArtifactError(f"unknown model format {meta.get('format_version')!r}")
        spec = FeatureSpec.from_dict(meta["spec"])
        enc_meta = meta["encoder"]
        encoder = LeadEncoder(spec, min_category_count=enc_meta["min_category_count"])
        encoder.vocabularies_ = {k: dict(v) for k, v in enc_meta["vocabularies"].items()}
        encoder.rare_values_ = {k: frozenset(v) for k, v in enc_meta["rare_values"].items()}
        encoder.feature_names_out_ = np.array(enc_meta["feature_names"], dtype=object)
        encoder.categorical_indices_ = list(range(len(spec.categorical)))
        encoder.n_features_in_ = len(spec.input_columns)
        stages = [_load_stage(texts, s) for s in meta["stages"]]
        return cls(
            spec=spec,
            encoder=encoder,
            stages=stages,
            policy=ThresholdPolicy.from_dict(meta["policy"]),
            fit_model=_booster(texts, "fit_model.txt") if "fit_model.txt" in texts else None,
            fit_feature_idx=meta["fit_feature_idx"],
            fit_quantiles=meta["fit_quantiles"],
            engagement_quantiles=meta["engagement_quantiles"],
            reason_model=_booster(texts, "reason_model.txt")
            if "reason_model.txt" in texts
            else None,
            reason_classes=meta["reason_classes"],
            reason_quality=meta.get("reason_quality", {}),
            metadata=meta["metadata"],
        )


def verify_folder(folder: Path) -> dict[str, str]:
    """Read every file named in the manifest and check its sha256; return the texts."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"no {MANIFEST} in {folder}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"unreadable {MANIFEST}: {exc}") from exc
    texts: dict[str, str] = {}
    for name, digest in manifest.items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"missing model file {name}")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ArtifactError(f"checksum mismatch for {name}: the file is corrupt or truncated")
        try:
            texts[name] = data.decode()
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{name} is not UTF-8 text (corrupt): {exc.reason}") from exc
    if "scorer.json" not in texts:
        raise ArtifactError("scorer.json missing from the manifest")
    return texts


def stage_file(name: str, family: Family) -> str:
    """The file of stage ``name`` in a model folder: LightGBM text or the linear JSON."""
    return f"stage_{name}.txt" if family == "lightgbm" else f"stage_{name}.json"


def _load_stage(texts: dict[str, str], meta: dict[str, Any]) -> Stage:
    """One stage from its ``scorer.json`` entry (no family: a version 1 LightGBM stage)."""
    name, family = meta["name"], meta.get("family", "lightgbm")
    calibrator = Calibrator.from_dict(meta["calibrator"])
    if family == "lightgbm":
        return StageModel(name, _booster(texts, stage_file(name, "lightgbm")), calibrator)
    if family != "logistic":
        raise ArtifactError(f"stage {name}: unknown model family {family!r}")
    file = stage_file(name, "logistic")
    if file not in texts:
        raise ArtifactError(f"{file} missing from the manifest")
    try:
        linear = LinearModel.from_dict(json.loads(texts[file]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{file} is not a valid linear model: {exc}") from exc
    return LinearStageModel(name, linear, calibrator)


def _booster(texts: dict[str, str], name: str) -> lgb.Booster:
    """The LightGBM model in file ``name``; a file LightGBM refuses is named in the error."""
    if name not in texts:
        raise ArtifactError(f"{name} missing from the manifest")
    try:
        return lgb.Booster(model_str=texts[name])
    except lgb.basic.LightGBMError as exc:
        raise ArtifactError(f"{name} is not a valid LightGBM model: {exc}") from exc


def _percentile(values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Position of each value in a stored training distribution, 0-100."""
    if not quantiles:
        return np.full(len(values), np.nan)
    q = np.asarray(quantiles)
    pct = np.interp(values, q, np.linspace(0, 100, len(q)))
    return np.where(np.isnan(values), np.nan, np.round(pct, 1))


def quantiles(values: np.ndarray, n: int = 101) -> list[float]:
    """The stored form of a training distribution for :func:`_percentile`."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return []
    return cast(list[float], np.quantile(finite, np.linspace(0, 1, n)).tolist())
