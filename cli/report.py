"""``leadscore report``: funnel, rejections, SLA, calibration and drift as an HTML page.

:func:`report_command` loads a CRM history (or generates a synthetic one) and/or reads
the serving store, scores the history's held-out months with a model — one fitted on its
earlier months (``training.train``), or a registered version — builds the report
(``serving.reports``) and renders it (``serving.report_html``). It stands on both floors,
so it lives with the command line, not in the server.

It says what it is doing on stderr as it goes (generating, fitting and drawing take
seconds to minutes), and it fits no model on a history it has just generated unless
``--fit-model`` asks: a report on invented data should not look like a trained model's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import DataOpt, LeadsOpt, SeedOpt
from scoring.settings import Settings

if TYPE_CHECKING:
    from scoring.lifecycle import SlaClocks
    from serving.reports import ReportData

# The reports, their charts and translations are imported when a report is made, not
# when the ``leadscore`` application loads: other commands do not pay for them.

Progress = Callable[[str], None]


def say(message: str) -> None:
    """A progress line on stderr (stdout keeps only the pages written)."""
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


def report(
    out: Annotated[Path, typer.Option(help="Folder for index.html, its PNG charts and JSON.")],
    data: DataOpt = None,
    costs: Annotated[
        Path | None,
        typer.Option(help="Spend per channel (JSON/YAML/CSV): enables CAC, LTV:CAC, ROMI."),
    ] = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="Also report the serving decision log.")
    ] = False,
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
    drift: Annotated[bool, typer.Option(help="Synthetic data only: plant a drift.")] = False,
    start: Annotated[str | None, typer.Option(help="Leads from this date (ISO).")] = None,
    end: Annotated[str | None, typer.Option(help="Leads before this date (ISO).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Registered version/alias to score the history with.")
    ] = None,
    fit_model: Annotated[
        bool | None,
        typer.Option(
            "--fit-model/--no-fit-model",
            help="Fit a model on the history's earlier months for calibration and P(won) "
            "drift. Default: yes for --data, no for a freshly generated history.",
        ),
    ] = None,
    lang: Annotated[
        str, typer.Option(help="Language of the page and its charts: en or ru.")
    ] = "en",
) -> None:
    """Funnel, rejection reasons, SLA, calibration and drift as HTML with PNG charts."""
    from serving.i18n import LANGUAGES

    if lang not in LANGUAGES:
        raise typer.BadParameter(f"one of: {', '.join(LANGUAGES)}", param_hint="--lang")
    for path in report_command(
        out,
        data=data,
        costs=costs,
        from_store=from_store,
        leads=leads,
        months=months,
        seed=seed,
        drift=drift,
        start=start,
        end=end,
        model=model,
        fit_model=fit_model,
        lang=lang,
        settings=Settings(seed=seed),
        progress=say,
    ):
        typer.echo(path)


def _quiet(_: str) -> None:
    return None


def score_history(
    history: Any,
    *,
    scorer: Any = None,
    seed: int = 42,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Predictions and drift frames for a history, out of time.

    The history is split in time as training splits it (``training.train.time_split``).
    Without a ``scorer`` one is fitted on the train months (no MLflow). Predictions are
    kept for the months after validation (test and immature), which the model never saw;
    the train rows, with their P(won), are the drift reference.
    """
    from serving.reports.notes import Note
    from training.train import TrainConfig, build_dataset, fit_scorer, time_split

    config = TrainConfig(seed=seed)
    frame = build_dataset(history)
    split = time_split(frame["mql_at"], history.snapshot_at, config)
    if scorer is None:
        from scoring.features import FeatureSpec

        progress("fitting a model on the history's earlier months (for calibration and drift)")
        scorer, _ = fit_scorer(frame, split, FeatureSpec(), config)
    progress(f"scoring {len(frame):,} MQLs of the history")
    scored = scorer.predict_frame(frame)
    frame = frame.assign(p_won=scored["p_won"].to_numpy())
    held_out = split.isin(["test", "immature"]).to_numpy()
    predictions = frame.loc[held_out, ["lead_id"]].assign(
        p_won=scored.loc[held_out, "p_won"].to_numpy(),
        decision=scored.loc[held_out, "decision"].to_numpy(),
    )
    if "p_sql" in scored.columns:
        predictions["p_sql"] = scored.loc[held_out, "p_sql"].to_numpy()
    train_rows = (split == "train").to_numpy()
    return {
        "predictions": predictions,
        "reference": frame[train_rows],
        "current": frame[held_out],
        "reference_name": Note(
            "reference.training_months",
            f"training months ({int(train_rows.sum()):,} MQLs)",
            n=int(train_rows.sum()),
        ),
        "scorer": scorer,
    }


def report_command(
    out: Path,
    *,
    data: Path | None = None,
    costs: Path | None = None,
    from_store: bool = False,
    leads: int = 20_000,
    months: int = 18,
    seed: int = 42,
    drift: bool = False,
    start: str | None = None,
    end: str | None = None,
    model: str | None = None,
    fit_model: bool | None = None,
    lang: str = "en",
    settings: Any = None,
    progress: Progress = _quiet,
) -> list[Path]:
    """``leadscore report``: write ``index.html`` (+ PNGs and the JSON) into ``out``.

    Sources: a CRM history folder (``data``), a synthetic history when neither ``data``
    nor ``from_store`` is given, and/or the serving store (``from_store``). With both a
    history and the store, the history report is ``index.html`` and the store report
    ``store.html``. ``model`` (a registered version or alias) scores the history; without
    it a model is fitted on the history's earlier months if ``fit_model`` says so — by
    default for a given history (``data``), never for one generated here.
    """
    from scoring.lifecycle import SlaClocks
    from serving.i18n import Translator
    from serving.i18n.formats import time_zone
    from serving.report_html import write_html
    from serving.reports import CostInputs, build_report, load_costs

    settings = settings or Settings(seed=seed)
    cost_inputs = load_costs(costs) if costs is not None else CostInputs()
    scorer = None
    if model is not None:
        from scoring.model import LeadScorer
        from scoring.registry_client import download_scorer

        settings.ensure_home()
        progress(f"downloading {settings.model_name}@{model} from the registry")
        with tempfile.TemporaryDirectory() as tmp:
            scorer = LeadScorer.load(download_scorer(settings, model, Path(tmp)))
        progress(f"scoring with {settings.model_name}@{model}")

    clocks = SlaClocks.from_settings(settings)
    reports: list[tuple[str, str, dict[str, Any]]] = []
    if data is not None or not from_store:
        if data is None:
            progress(f"generating a synthetic history: {leads:,} leads over {months} months")
        else:
            progress(f"loading the history in {data}")
        history, source = _load_history(data, leads=leads, months=months, seed=seed, drift=drift)
        progress(f"history: {source}, {len(history.leads):,} leads")
        fit = (data is not None) if fit_model is None else fit_model
        inputs = _history_inputs(
            history, scorer=scorer, fit=fit, seed=seed, progress=progress, clocks=clocks
        )
        progress("building the report: funnel, rejections, SLA, calibration, drift, attribution")
        inputs.half_life_days = settings.attribution_half_life_days
        report = build_report(inputs, costs=cost_inputs, start=start, end=end)
        report["source"] = f"CRM history: {source}"
        reports.append(("index.html", "history", report))
    if from_store:
        progress("reading the serving store: decision log and sales feedback")
        store_data = _store_inputs(settings, scorer)
        report = build_report(store_data, costs=cost_inputs, start=start, end=end)
        report["source"] = "serving store (decision log + feedback)"
        page = "store.html" if reports else "index.html"
        reports.append((page, "store", report))

    written: list[Path] = []
    t = Translator(lang, time_zone(settings.timezone) or UTC)
    for page, name, report in reports:
        links = [
            (t(f"rep.title.{other_name}"), other)
            for other, other_name, _ in reports
            if other != page
        ]
        progress(f"drawing the charts ({lang}) and writing {out / page}")
        title = t(f"rep.title.{name}")
        written.append(
            write_html(report, out, page=page, title=title, links=links, lang=lang, tz=t.tz)
        )
    return written


def _load_history(
    data: Path | None, *, leads: int, months: int, seed: int, drift: bool
) -> tuple[Any, str]:
    """Like ``training.pipeline.load_history``, without importing MLflow (seconds)."""
    if data is not None:
        from training.history import CRMHistory

        return CRMHistory.load(data), str(data)
    from training.synthetic import generate

    history = generate(leads, months=months, seed=seed, drift=drift)
    return history, f"synthetic(n={leads},seed={seed}{',drift' if drift else ''})"


def _history_inputs(
    history: Any, *, scorer: Any, fit: bool, seed: int, progress: Progress, clocks: SlaClocks
) -> ReportData:
    from serving.reports import from_history
    from serving.reports.notes import Note

    if scorer is None and not fit:
        progress("no model: calibration left out, drift compares early and late MQLs")
        inputs = from_history(history, clocks=clocks)
        inputs.notes.append(
            "calibration: no model scored this history (pass --model NAME, or --fit-model "
            "to fit one on its earlier months)"
        )
        return inputs
    try:
        scored = score_history(history, scorer=scorer, seed=seed, progress=progress)
    except ValueError as exc:  # too little data to fit a model: report without one
        progress(f"no model for calibration ({exc}); drift compares early and late MQLs")
        inputs = from_history(history, clocks=clocks)
        inputs.notes.append(
            Note(
                "report.no_model",
                f"calibration: no model could be fitted on this history ({exc})",
            )
        )
        return inputs
    return from_history(
        history,
        predictions=scored["predictions"],
        current=scored["current"],
        reference=scored["reference"],
        reference_name=scored["reference_name"],
        clocks=clocks,
    )


def _store_inputs(settings: Any, scorer: Any) -> ReportData:
    from scoring.lifecycle import SlaClocks
    from serving.reports import from_store
    from serving.storage import Store, make_engine, upgrade

    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        store = Store(engine)
        decisions = store.decisions_for_training()
        feedback = store.feedback_frame()
    finally:
        engine.dispose()
    profile = scorer.metadata.get("reference_profile") if scorer is not None else None
    return from_store(
        decisions,
        feedback,
        reference=profile if profile else None,
        clocks=SlaClocks.from_settings(settings),
        half_life_days=settings.attribution_half_life_days,
    )
