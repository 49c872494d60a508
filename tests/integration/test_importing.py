"""Flat CRM exports → CRMHistory: the built-in mappings read real-looking exports as they
come out of amoCRM and Bitrix24 (Russian and English headers, CSV and XLSX), misfits fail
with the column named, sales-side and personal columns never become features, and an
imported export trains, registers and scores a lead with its extra fields.

Every fixture file is written by the test itself into ``tmp_path``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from scoring.contract import Channel, RejectionReason
from scoring.model import LeadScorer
from scoring.settings import Settings
from training.importing import (
    NO_TIME,
    MappingError,
    builtin_mappings,
    import_export,
    load_mapping,
    parse_mapping,
)
from training.labels import stage_labels
from training.pipeline import run_training
from training.registry import download_scorer
from training.train import build_dataset
from training.validate import validate_history

SOURCES_RU = ["Яндекс Директ", "Сайт", "Рекомендация", "ВКонтакте", "Выставка"]
SOURCES_EN = ["Google Ads", "Website", "Referral", "Instagram", "Trade show"]
SOURCE_LIFT = np.array([0.0, 0.5, 1.6, -1.0, 0.3])
REASONS_RU = ["Нет бюджета", "Дорого", "Не целевой", "Выбрали конкурента", "Не дозвонились",
              "Рано", "Неактуально", "Дубль", "Просто так"]  # fmt: skip
REASONS_EN = ["No budget", "Too expensive", "Not target", "Competitor", "No answer",
              "Too early", "Not relevant now", "Duplicate", "Something else"]  # fmt: skip
REASON_TARGETS = ["no_budget", "no_budget", "not_icp", "competitor_won", "no_response",
                  "too_early", "too_early", "duplicate", "other"]  # fmt: skip


def _deals(n: int, seed: int = 0, open_share: float = 0.1) -> pd.DataFrame:
    """A neutral deal table with a learnable signal: source and utm_medium drive winning."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, 9, 0)
    created = [start + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 360, n))]
    source = rng.integers(0, len(SOURCES_RU), n)
    medium = rng.choice(["cpc", "organic", "email"], n, p=[0.5, 0.3, 0.2])
    logit = -0.9 + SOURCE_LIFT[source] + np.where(medium == "email", 0.8, 0.0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    still_open = rng.random(n) < open_share
    reason = rng.integers(0, len(REASONS_RU), n)
    return pd.DataFrame(
        {
            "id": np.arange(10_001, 10_001 + n),
            "created": created,
            "closed": [
                c + timedelta(days=int(d))
                for c, d in zip(created, rng.integers(1, 40, n), strict=True)
            ],
            "source": source,
            "medium": medium,
            "campaign": rng.choice(["spring", "summer", "b2b"], n),
            "budget": rng.integers(1, 500, n) * 1000,
            "status": np.where(still_open, "open", np.where(won, "won", "lost")),
            "reason": np.where(won | still_open, -1, reason),
        }
    )


def amocrm_ru(deals: pd.DataFrame) -> pd.DataFrame:
    """amoCRM deals export, Russian interface (as the export writes it)."""
    stage = deals["status"].map(
        {"won": "Успешно реализовано", "lost": "Закрыто и не реализовано", "open": "Переговоры"}
    )
    return pd.DataFrame(
        {
            "ID": deals["id"],
            "Название сделки": [f"Сделка #{i}" for i in deals["id"]],
            "Бюджет": [f"{b:,}".replace(",", " ") + " руб." for b in deals["budget"]],
            "Ответственный": "Иванова Мария",
            "Дата создания": [d.strftime("%d.%m.%Y %H:%M:%S") for d in deals["created"]],
            "Дата закрытия": [
                d.strftime("%d.%m.%Y %H:%M:%S") if s != "open" else ""
                for d, s in zip(deals["closed"], deals["status"], strict=True)
            ],
            "Этап сделки": stage,
            "Воронка": "Продажи",
            "Причина отказа": [REASONS_RU[r] if r >= 0 else "" for r in deals["reason"]],
            "Источник": [SOURCES_RU[s] for s in deals["source"]],
            "utm_source": np.where(deals["medium"] == "cpc", "yandex", "Google"),
            "utm_medium": deals["medium"],
            "utm_campaign": deals["campaign"],
            "Полное имя контакта": "Пётр Петров",
            "Рабочий телефон": "+7 912 345-67-89",
            "Рабочий email": "petr@example.ru",
            "Теги": "горячий",
        }
    )


def kommo_en(deals: pd.DataFrame) -> pd.DataFrame:
    """The same export from Kommo (amoCRM's English interface)."""
    stage = deals["status"].map(
        {"won": "Closed - won", "lost": "Closed - lost", "open": "Negotiation"}
    )
    return pd.DataFrame(
        {
            "ID": deals["id"],
            "Lead title": [f"Deal #{i}" for i in deals["id"]],
            "Sale": deals["budget"],
            "Responsible user": "Mary Smith",
            "Date created": [d.strftime("%d.%m.%Y %H:%M") for d in deals["created"]],
            "Status": stage,
            "Pipeline": "Sales",
            "Loss reason": [REASONS_EN[r] if r >= 0 else "" for r in deals["reason"]],
            "Source": [SOURCES_EN[s] for s in deals["source"]],
            "UTM Source": np.where(deals["medium"] == "cpc", "google", "bing"),
            "UTM Medium": deals["medium"],
            "Contact": "John Doe",
            "Phone": "+1 555 0100",
        }
    )


def bitrix_ru(deals: pd.DataFrame) -> pd.DataFrame:
    """Bitrix24 deals export, Russian interface; dates as real spreadsheet dates."""
    stage = deals["status"].map(
        {"won": "Сделка успешна", "lost": "Сделка провалена", "open": "Подготовка документов"}
    )
    return pd.DataFrame(
        {
            "ID": deals["id"],
            "Название": [f"Заказ {i}" for i in deals["id"]],
            "Стадия сделки": stage,
            "Воронка": "Общая",
            "Сумма": deals["budget"].astype(float),
            "Валюта": "Российский рубль",
            "Источник": [
                ["Реклама", "Веб-сайт", "По рекомендации", "ВКонтакте", "Выставка"][s]
                for s in deals["source"]
            ],
            "Дата создания": deals["created"],
            "Ответственный": "Сидоров Алексей",
            "Причина провала": [REASONS_RU[r] if r >= 0 else None for r in deals["reason"]],
            "Комментарий": "перезвонить",
            "UTM Source": np.where(deals["medium"] == "cpc", "yandex", "google"),
            "UTM Medium": deals["medium"],
            "Контакт": "Анна Смирнова",
            "Рабочий телефон": "+7 900 000-00-00",
        }
    )


@pytest.fixture
def deals() -> pd.DataFrame:
    return _deals(400)


def _write_csv(frame: pd.DataFrame, path: Path, sep: str, encoding: str) -> Path:
    frame.to_csv(path, index=False, sep=sep, encoding=encoding)
    return path


# --- the built-in mappings read each export without hand editing -------------------------


def test_builtin_mappings_parse() -> None:
    assert {"x_education", "olist", "amocrm", "bitrix24"} <= set(builtin_mappings())
    for name in builtin_mappings():
        mapping = load_mapping(name)
        assert mapping.name == name
        assert mapping.lead_id.sources


def test_amocrm_russian_csv_cp1251_semicolon(deals: pd.DataFrame, tmp_path: Path) -> None:
    path = _write_csv(amocrm_ru(deals), tmp_path / "amocrm_export.csv", ";", "cp1251")
    imported = import_export(path, "amocrm")
    history, summary = imported.history, imported.summary

    closed = deals["status"] != "open"
    duplicate = deals["reason"] == REASONS_RU.index("Дубль")
    assert summary["won"] == int((deals["status"] == "won").sum())
    assert summary["open"] == int((deals["status"] == "open").sum())
    assert summary["excluded"] == int(duplicate.sum())  # "Дубль" gets no label
    assert summary["lost"] == int((closed & (deals["status"] == "lost") & ~duplicate).sum())
    assert imported.has_time
    created = history.leads["created_at"]
    assert created.iloc[0] == pd.Timestamp(deals["created"].iloc[0], tz="UTC")

    # loss reasons land on the RejectionReason vocabulary
    fb = history.feedback.set_index("lead_id")
    lost_ids = deals.loc[(deals["status"] == "lost") & ~duplicate, ["id", "reason"]]
    expected = [REASON_TARGETS[r] for r in lost_ids["reason"]]
    assert fb.loc[lost_ids["id"].astype(str), "reason"].tolist() == expected
    assert set(fb["reason"].dropna()) <= {r.value for r in RejectionReason}

    # sources land on the Channel vocabulary; budget "159 000 руб." is the won amount
    channels = dict(zip(SOURCES_RU, ["paid_search", "direct", "referral", "paid_social",
                                     "event"], strict=True))  # fmt: skip
    assert history.leads["channel"].tolist() == [channels[SOURCES_RU[s]] for s in deals["source"]]
    assert set(history.leads["channel"]) <= {c.value for c in Channel}
    won_ids = deals.loc[deals["status"] == "won", ["id", "budget"]]
    amounts = history.outcomes.set_index("lead_id").loc[won_ids["id"].astype(str), "amount"]
    assert amounts.tolist() == won_ids["budget"].astype(float).tolist()

    # features: the contract's channel and campaign plus utm_*; nothing sales-side or personal
    assert imported.spec.use_touches is False
    assert set(imported.spec.input_columns) == {
        "channel", "campaign", "pipeline", "utm_source", "utm_medium"
    }  # fmt: skip
    assert set(history.leads["utm_source"].dropna()) == {"yandex", "google"}  # case: lower
    assert "Ответственный" in summary["sales_side"]
    assert {"Полное имя контакта", "Рабочий телефон", "Рабочий email"} <= set(
        summary["personal_dropped"]
    )
    flat = [str(v) for v in history.leads.to_numpy().ravel()]
    assert not any("example.ru" in v or "345-67-89" in v or "Петров" in v for v in flat)


def test_kommo_english_headers_with_the_same_mapping(deals: pd.DataFrame, tmp_path: Path) -> None:
    path = _write_csv(kommo_en(deals), tmp_path / "kommo.csv", ",", "utf-8")
    imported = import_export(path, "amocrm")
    assert imported.summary["won"] == int((deals["status"] == "won").sum())
    assert imported.summary["open"] == int((deals["status"] == "open").sum())
    reasons = imported.history.feedback["reason"].dropna()
    assert {"no_budget", "not_icp", "competitor_won", "no_response", "too_early"} <= set(reasons)
    assert "campaign" not in imported.spec.input_columns  # optional, absent in this file
    assert any("campaign" in note for note in imported.notes)


def test_bitrix24_russian_xlsx(deals: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "bitrix_deals.xlsx"
    bitrix_ru(deals).to_excel(path, index=False)
    imported = import_export(path, "bitrix24")
    history = imported.history
    assert imported.summary["won"] == int((deals["status"] == "won").sum())
    assert imported.summary["open"] == int((deals["status"] == "open").sum())
    # spreadsheet dates arrive as real dates, not dd.mm.yyyy text
    assert history.leads["created_at"].iloc[-1] == pd.Timestamp(deals["created"].iloc[-1], tz="UTC")
    assert set(history.leads["channel"].dropna()) == {
        "paid_search", "direct", "referral", "paid_social", "event"
    }  # fmt: skip
    assert "Ответственный" in imported.summary["sales_side"]
    assert not {"Ответственный", "Комментарий", "Сумма"} & set(imported.spec.input_columns)
    lost = history.feedback[history.feedback["decision"] == "rejected"]
    assert "no_budget" in set(lost["reason"])


def test_labels_equal_converted_for_closed_leads(deals: pd.DataFrame, tmp_path: Path) -> None:
    """Plain rules on an imported history: y_won = y_sql = converted; open ones unlabelled."""
    path = _write_csv(amocrm_ru(deals), tmp_path / "a.csv", ";", "utf-8-sig")
    imported = import_export(path, "amocrm")
    config = imported.train_config(seed=1)
    assert config.stages == ("won",) and config.split == "time" and config.maturity_days == 0
    labels = stage_labels(imported.history, config.label_rules).set_index("lead_id")
    status = deals.set_index(deals["id"].astype(str))["status"]
    duplicate = deals.set_index(deals["id"].astype(str))["reason"] == REASONS_RU.index("Дубль")
    closed = (status != "open") & ~duplicate
    expected = (status[closed] == "won").astype(float)
    assert labels.loc[closed.index[closed], "y_won"].tolist() == expected.tolist()
    assert labels.loc[closed.index[closed], "y_sql"].tolist() == expected.tolist()
    assert labels.loc[~closed, "y_won"].isna().all()


def test_no_time_column_gets_placeholder_and_stratified_split(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"Lead": ["a", "b", "c", "d"], "Paid": ["Yes", "No", "Select", "No"], "Won": [1, 0, 0, 1]}
    )
    path = _write_csv(frame, tmp_path / "flat.csv", ",", "utf-8")
    mapping = {
        "lead_id": "Lead",
        "missing_values": ["Select"],
        "features": {"paid": {"column": "Paid", "type": "boolean"}},
        "outcome": {"column": "Won", "won": [1], "lost": [0]},
    }
    imported = import_export(path, parse_mapping(mapping))
    assert not imported.has_time
    assert (imported.history.leads["mql_at"] == NO_TIME).all()
    assert imported.history.leads["paid"].tolist() == [True, False, None, False]
    config = imported.train_config()
    assert config.split == "stratified"
    assert config.policy.method == "expected_value"  # capacity needs leads per day


def test_yaml_yes_no_stay_text(tmp_path: Path) -> None:
    """YAML 1.1 would read Yes/No as booleans and silently never match the file's "Yes"."""
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text(
        "lead_id: id\noutcome: {column: result, won: [Yes], lost: [No]}\n", encoding="utf-8"
    )
    path = _write_csv(
        pd.DataFrame({"id": [1, 2], "result": ["Yes", "No"]}), tmp_path / "f.csv", ",", "utf-8"
    )
    assert import_export(path, mapping_file).summary["won"] == 1


# --- a mapping that does not fit says where ----------------------------------------------


def test_missing_column_is_named(deals: pd.DataFrame, tmp_path: Path) -> None:
    path = _write_csv(amocrm_ru(deals).drop(columns=["Этап сделки"]), tmp_path / "a.csv", ";",
                      "utf-8")  # fmt: skip
    with pytest.raises(MappingError) as err:
        import_export(path, "amocrm")
    assert err.value.column == "Этап сделки"
    assert "outcome" in str(err.value) and "'Этап сделки'" in str(err.value)
    assert "'Воронка'" in str(err.value)  # lists the headers the file does have


def test_unmapped_outcome_value_is_named(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"ID": [1, 2, 3, 4], "Статус": ["Выиграна", "Проиграна", "Выиграна", "ivan@mail.ru"]}
    )
    path = _write_csv(frame, tmp_path / "s.csv", ";", "utf-8")
    mapping = {"lead_id": "ID", "outcome": {"column": "Статус", "won": ["Выиграна"]}}
    with pytest.raises(MappingError) as err:
        import_export(path, parse_mapping(mapping))
    message = str(err.value)
    assert err.value.column == "Статус"
    assert "'Проиграна' (1 row)" in message
    assert "ivan@mail.ru" not in message and "redacted" in message


def test_unmapped_channel_and_boolean_values_are_named(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "src": ["Google", "Carrier pigeon"], "ok": ["Да", "Нет"],
                          "won": [1, 0]})  # fmt: skip
    path = _write_csv(frame, tmp_path / "c.csv", ",", "utf-8")
    mapping = {
        "lead_id": "id",
        "contract": {"channel": {"column": "src", "values": {"paid_search": ["Google"]}}},
        "outcome": {"column": "won", "won": [1], "lost": [0]},
    }
    with pytest.raises(MappingError, match="'Carrier pigeon'") as err:
        import_export(path, parse_mapping(mapping))
    assert err.value.column == "src"
    mapping["contract"] = {}
    mapping["features"] = {"ok": {"column": "ok", "type": "boolean", "true_values": ["Yes"],
                                  "false_values": ["No"]}}  # fmt: skip
    with pytest.raises(MappingError, match="neither true nor false") as err:
        import_export(path, parse_mapping(mapping))
    assert err.value.column == "ok"


def test_non_numeric_and_bad_dates_are_named(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "n": ["1 500,5", "lots"], "d": ["01.02.2024", "soon"],
                          "won": [1, 0]})  # fmt: skip
    path = _write_csv(frame, tmp_path / "n.csv", ",", "utf-8")
    base = {"lead_id": "id", "outcome": {"column": "won", "won": [1], "lost": [0]}}
    numeric = {**base, "features": {"n": {"column": "n", "type": "numeric"}}}
    with pytest.raises(MappingError, match="not numbers") as err:
        import_export(path, parse_mapping(numeric))
    assert err.value.column == "n"
    with pytest.raises(MappingError, match="not dates") as err:
        import_export(path, parse_mapping({**base, "created_at": "d"}))
    assert err.value.column == "d"


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ({"lead_id": "id"}, "`lead_id` and `outcome`"),
        ({"lead_id": "id", "outcome": {"column": "s", "won": [1]}, "colour": 1}, "colour"),
        ({"lead_id": "id", "outcome": {"column": "s", "won": [1]},
          "contract": {"channel": {"column": "c", "values": {"tv": ["TV"]}}}}, "not channels"),
        ({"lead_id": {"row_number": "yes"}, "outcome": {"column": "s", "won": [1]}},
          "row_number must be true"),
        ({"lead_id": "id", "outcome": {"column": "s", "won": [1]},
          "contract": {"email": "Email"}}, "personal data"),
        ({"lead_id": "id", "outcome": {"column": "s", "won": [1]},
          "reason": {"column": "r", "values": {"broke": ["x"]}}}, "not rejection reasons"),
    ],
)  # fmt: skip
def test_malformed_mappings_fail_before_reading(mapping: dict, fragment: str) -> None:
    with pytest.raises(MappingError, match=fragment):
        parse_mapping(mapping)


def test_a_malformed_mapping_names_the_path_to_the_key() -> None:
    """The mapping file's model says where the fault is, in one line, before any file."""
    base = {"lead_id": "id", "outcome": {"column": "s", "won": [1]}}
    wrong_type = {**base, "features": {"stage": {"column": "Stage", "type": "text"}}}
    with pytest.raises(MappingError, match=r"features\.stage\.type: .*, not 'text'") as err:
        parse_mapping(wrong_type)
    assert err.value.column == "stage" and "\n" not in str(err.value)
    with pytest.raises(MappingError, match="join: `on` is required"):
        parse_mapping({**base, "join": {"file": "deals.csv"}})
    with pytest.raises(MappingError, match=r"format\.encoding: unknown encoding 'klingon'"):
        parse_mapping({**base, "format": {"encoding": ["utf-8", "klingon"]}})
    with pytest.raises(MappingError, match=r"features\.stage: unknown key\(s\) \['colum'\]"):
        parse_mapping({**base, "features": {"stage": {"colum": "Stage"}}})


# --- sales-side columns never become scoring features -------------------------------------


def test_sales_side_column_as_feature_is_refused(deals: pd.DataFrame, tmp_path: Path) -> None:
    path = _write_csv(amocrm_ru(deals), tmp_path / "a.csv", ";", "utf-8")
    mapping = load_mapping("amocrm")
    raw = {
        "lead_id": "ID",
        "created_at": "Дата создания",
        "features": {"manager": "Ответственный"},
        "outcome": {"column": "Этап сделки", "won": ["Успешно реализовано"], "other": "lost"},
        "sales_side": list(mapping.sales_side),
    }
    with pytest.raises(MappingError, match="sales-side") as err:
        import_export(path, parse_mapping(raw))
    assert err.value.column == "Ответственный"
    raw["features"] = {"stage_copy": "Этап сделки"}
    raw["sales_side"] = []
    with pytest.raises(MappingError, match="leak"):
        import_export(path, parse_mapping(raw))


@pytest.mark.parametrize("name", ["amocrm", "bitrix24", "x_education", "olist"])
def test_builtin_mappings_never_feature_a_sales_side_column(name: str) -> None:
    mapping = load_mapping(name)
    sales_side = {s.casefold() for s in (*mapping.sales_side, *mapping.personal)}
    for column in mapping.all_columns:
        if column.feature:
            assert not {s.casefold() for s in column.sources} & sales_side, column.name


def test_x_education_like_tags_feed_reasons_not_features(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Prospect ID": ["p1", "p2", "p3", "p4"],
            "Lead Source": ["Google", "google", "Reference", "Select"],
            "Converted": [1, 0, 0, 0],
            "Tags": ["Closed by Horizzon", "Ringing", "Lost to EINS", None],
            "Lead Quality": ["High in Relevance", "Worst", None, None],
        }
    )
    path = _write_csv(frame, tmp_path / "Leads.csv", ",", "utf-8")
    mapping = load_mapping("x_education")
    raw = {
        "lead_id": "Prospect ID",
        "missing_values": ["Select"],
        "features": {"lead_source": {"column": "Lead Source", "case": "lower"}},
        "outcome": {"column": "Converted", "won": [1], "lost": [0]},
        "reason": {"column": "Tags", "values": {"no_response": ["Ringing"],
                                                "competitor_won": ["Lost to EINS"]}},
        "sales_side": list(mapping.sales_side),
    }  # fmt: skip
    imported = import_export(path, parse_mapping(raw))
    assert imported.spec.input_columns == ("lead_source",)
    assert imported.history.leads["lead_source"].tolist() == ["google", "google", "reference", None]
    reasons = imported.history.feedback.set_index("lead_id")["reason"]
    assert reasons.to_dict() == {"p1": None, "p2": "no_response", "p3": "competitor_won",
                                 "p4": "other"}  # fmt: skip
    # p4 had no tag: "other" only to pass validation, never a reason the model learns
    assert imported.history.extra["untagged_rejections"] == {"p4"}
    first = build_dataset(imported.history, "plain").set_index("lead_id")["first_reason"]
    assert first.isna().to_dict() == {"p1": True, "p2": False, "p3": False, "p4": True}
    assert {"Tags", "Lead Quality"} <= set(imported.sales_side.columns)
    assert "Tags" not in imported.history.leads.columns


# --- a flat import trains end to end and serves its extra fields -------------------------


@pytest.mark.slow
def test_flat_import_trains_registers_and_scores(tmp_path: Path) -> None:
    deals = _deals(900, seed=3, open_share=0.05)
    path = _write_csv(amocrm_ru(deals), tmp_path / "amocrm.csv", ";", "cp1251")
    imported = import_export(path, "amocrm")
    settings = Settings(home=tmp_path / "home")
    outcome = run_training(
        imported.history,
        settings,
        imported.train_config(seed=0),
        spec=imported.spec,
        data_source="amocrm-test",
    )
    won = outcome.result.info["evaluation"]["won"]
    assert won["roc_auc"] > 0.6  # the planted source/medium signal is found
    assert outcome.registration is not None
    assert set(outcome.result.split.unique()) >= {"train", "valid", "test"}
    assert "no_budget" in outcome.result.scorer.reason_classes

    folder = download_scorer(settings, outcome.registration.version, tmp_path / "dl")
    scorer = LeadScorer.load(folder)
    assert scorer.spec.use_touches is False
    # the calibration window is said on the run and in the scorer (issue 10, item 3)
    run = MlflowClient(settings.resolved_tracking_uri).get_run(outcome.registration.run_id)
    window = scorer.metadata["calibration_windows"]["won"]
    assert run.data.params["calibration_window_won"].startswith(f"{window['window']}: ")
    assert window["to"] in run.data.params["calibration_window_won"]
    leads = [
        {"lead_id": "n1", "channel": "referral", "campaign": "b2b", "pipeline": "Продажи",
         "utm_source": "google", "utm_medium": "email"},
        {"lead_id": "n2", "channel": "paid_social", "campaign": "spring", "pipeline": "Продажи",
         "utm_source": "yandex", "utm_medium": "cpc"},
    ]  # fmt: skip
    scores = scorer.score_records(leads, as_of=["2025-01-10T10:00:00Z"] * 2, reasons=2)
    assert scores.p_won[0] > scores.p_won[1]  # referral + email beats paid social + cpc
    assert all(0 < p < 1 for p in scores.p_won)
    assert scores.unseen == [set(), set()]
    fields = {r["field"] for r in scores.reasons[0]["positive"] + scores.reasons[0]["negative"]}
    assert fields & {"channel", "utm_medium"}


@pytest.mark.slow
def test_cli_train_with_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import app

    path = tmp_path / "bitrix.xlsx"
    bitrix_ru(_deals(700, seed=4)).to_excel(path, index=False)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app, ["train", "--data", str(path), "--mapping", "bitrix24", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "mapping 'bitrix24'" in result.output
    assert "registered leadscore v1" in result.output


@pytest.mark.slow
def test_flat_import_without_time_trains(tmp_path: Path) -> None:
    deals = _deals(800, seed=5, open_share=0.0)
    frame = kommo_en(deals).drop(columns=["Date created"])
    path = _write_csv(frame, tmp_path / "no_dates.csv", ",", "utf-8")
    mapping = load_mapping("amocrm")
    imported = import_export(path, mapping.__class__(**{**mapping.__dict__, "created_at": None}))
    outcome = run_training(
        imported.history,
        Settings(home=tmp_path / "home"),
        imported.train_config(seed=0),
        spec=imported.spec,
        register=False,
    )
    assert outcome.result.info["evaluation"]["won"]["roc_auc"] > 0.6


def test_join_outcome_by_presence_and_derived_calendar(tmp_path: Path) -> None:
    """Olist-style: converted = present in a second file whose columns are all sales-side."""
    mqls = pd.DataFrame(
        {
            "mql_id": ["m1", "m2", "m3"],
            "first_contact_date": ["2018-01-01", "2018-02-14", "2018-03-31"],
            "origin": ["social", "unknown", None],
        }
    )
    deals = pd.DataFrame({"mql_id": ["m2"], "won_date": ["2018-03-01 10:00:00"],
                          "lead_type": ["online_big"]})  # fmt: skip
    _write_csv(mqls, tmp_path / "mqls.csv", ",", "utf-8")
    _write_csv(deals, tmp_path / "deals.csv", ",", "utf-8")
    mapping = {
        "lead_id": "mql_id",
        "created_at": "first_contact_date",
        "join": {"file": "deals.csv", "on": "mql_id"},
        "features": {
            "origin": "origin",
            "contact_month": {"column": "first_contact_date", "derive": "month"},
            "contact_weekday": {"column": "first_contact_date", "derive": "weekday",
                                "type": "ordinal"},
        },
        "outcome": {"present": "won_date", "closed_at": "won_date"},
    }  # fmt: skip
    imported = import_export(tmp_path / "mqls.csv", parse_mapping(mapping))
    leads = imported.history.leads
    assert leads["contact_month"].tolist() == ["jan", "feb", "mar"]
    assert leads["contact_weekday"].tolist() == ["mon", "wed", "sat"]
    assert imported.spec.ordinal["contact_weekday"][0] == "mon"
    assert imported.summary["won"] == 1 and imported.summary["lost"] == 2
    won = imported.history.outcomes.iloc[0]
    assert won["lead_id"] == "m2" and won["closed_at"] == pd.Timestamp("2018-03-01 10:00", tz="UTC")
    assert {"won_date", "lead_type"} <= set(imported.summary["sales_side"])
    mapping["features"]["lead_type"] = "lead_type"
    with pytest.raises(MappingError, match="sales-side") as err:
        import_export(tmp_path / "mqls.csv", parse_mapping(mapping))
    assert err.value.column == "lead_type"
    mapping["join"]["file"] = "missing.csv"
    with pytest.raises(MappingError, match=r"missing\.csv"):
        import_export(tmp_path / "mqls.csv", parse_mapping(mapping))


@pytest.mark.slow
def test_registered_pyfunc_takes_typed_numbers_and_scores_like_the_api(tmp_path: Path) -> None:
    """The signature types numeric features as double and yes/no fields as boolean: a
    DataFrame with real numbers goes through ``mlflow.pyfunc.load_model`` (it was refused
    as "Can not safely convert ... to <U0" when every column was a string) and scores each
    lead as POST /v1/score does."""
    import mlflow
    from fastapi.testclient import TestClient
    from mlflow.models import get_model_info
    from mlflow.types import DataType

    from scoring.pyfunc import pyfunc_frame
    from serving.app import create_app
    from tests.model_fixtures import ADMIN_KEY
    from training.registry import configure, promote

    deals = _deals(1500, seed=6, open_share=0.0)
    export = pd.DataFrame(
        {
            "ID": deals["id"],
            "Created": [d.strftime("%Y-%m-%d %H:%M") for d in deals["created"]],
            "Source": [SOURCES_EN[s] for s in deals["source"]],
            "Medium": deals["medium"],
            "Budget": deals["budget"],
            "Visits": (deals["budget"] // 50_000 + (deals["medium"] == "email") * 3).astype(int),
            "Has website": np.where(deals["medium"] == "email", "yes", "no"),
            "Stage": deals["status"],
        }
    )
    path = _write_csv(export, tmp_path / "typed.csv", ",", "utf-8")
    mapping = {
        "lead_id": "ID",
        "created_at": "Created",
        "contract": {"channel": {"column": "Source", "other": "other"}},
        "features": {
            "utm_medium": "Medium",
            "budget": {"column": "Budget", "type": "numeric"},
            "visits": {"column": "Visits", "type": "numeric"},
            "has_website": {"column": "Has website", "type": "boolean"},
        },
        "outcome": {"column": "Stage", "won": ["won"], "lost": ["lost"]},
    }
    imported = import_export(path, parse_mapping(mapping))
    settings = Settings(
        home=tmp_path / "home",
        model_poll_seconds=0,
        bootstrap_admin_key=ADMIN_KEY,
        database_url=f"sqlite:///{tmp_path / 'serving.db'}",
    )
    config = imported.train_config(seed=0)
    run_training(imported.history, settings, config, spec=imported.spec, data_source="typed")
    assert promote(settings).promoted

    configure(settings)
    uri = f"models:/{settings.model_name}@champion"
    inputs = {c.name: c.type for c in get_model_info(uri).signature.inputs.inputs}
    assert inputs["budget"] == inputs["visits"] == DataType.double
    assert inputs["has_website"] == DataType.boolean
    assert inputs["channel"] == inputs["utm_medium"] == inputs["as_of"] == DataType.string

    as_of = "2025-01-10T10:00:00+00:00"
    leads = [
        {"lead_id": "t1", "channel": "referral", "utm_medium": "email", "budget": 420000.0,
         "visits": 11.0, "has_website": True},
        {"lead_id": "t2", "channel": "paid_search", "utm_medium": "cpc", "budget": 3000.5,
         "visits": 0.0, "has_website": False},
        {"lead_id": "t3", "channel": "seo", "utm_medium": None, "budget": None,
         "visits": 2.0, "has_website": None},
    ]  # fmt: skip
    typed = pd.DataFrame(
        {
            "as_of": [as_of] * 3,
            "channel": [lead["channel"] for lead in leads],
            "utm_medium": [lead["utm_medium"] for lead in leads],
            "budget": [lead["budget"] for lead in leads],
            "visits": [lead["visits"] for lead in leads],
            "has_website": [lead["has_website"] for lead in leads],
        }
    )
    assert typed["budget"].dtype == typed["visits"].dtype == np.float64
    model = mlflow.pyfunc.load_model(uri)
    through_pyfunc = model.predict(typed)["p_won"].to_numpy()
    records = [{**lead, "as_of": as_of} for lead in leads]
    rebuilt = model.predict(pyfunc_frame(records, imported.spec))["p_won"].to_numpy()
    np.testing.assert_allclose(rebuilt, through_pyfunc, rtol=1e-12)

    with TestClient(create_app(settings)) as client:
        over_http = []
        for lead in leads:
            body = {
                "lead_id": lead["lead_id"],
                "channel": lead["channel"],
                "as_of": as_of,
                "attributes": {k: lead[k] for k in ("utm_medium", "budget", "visits",
                                                    "has_website") if lead[k] is not None},
            }  # fmt: skip
            response = client.post("/v1/score", json=body, headers={"X-API-Key": ADMIN_KEY})
            assert response.status_code == 200, response.text
            over_http.append(response.json()["p_won"])
    np.testing.assert_allclose(through_pyfunc, over_http, atol=5e-7)  # the API rounds
    assert len(set(np.round(through_pyfunc, 6))) == 3  # the numbers do move the score


# --- real exports: no id, clashing names, open rows, "None" as a value ---------------------


def _generic_export(n: int = 600, seed: int = 8) -> pd.DataFrame:
    """A CRM export as a new user brings it: no id column, a count column called
    ``campaign``, a competitor field whose real answer is "None", open rows whose
    "qualified" date is still empty, and an empty stage for deals nobody closed."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, 9, 0)
    created = [start + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 300, n))]
    competitor = rng.choice(["None", "Acme", "Globex"], n, p=[0.5, 0.3, 0.2])
    campaigns = rng.integers(0, 6, n)
    won = rng.random(n) < np.where(competitor == "None", 0.55, 0.2) + 0.03 * campaigns
    state = np.where(rng.random(n) < 0.3, "open", np.where(won, "Won", "Lost"))
    stage = np.where(state == "open", np.where(rng.random(n) < 0.5, "", "Negotiation"), state)
    return pd.DataFrame(
        {
            "Created": [d.strftime("%Y-%m-%d %H:%M") for d in created],
            "Qualified": [
                "" if s == "open" else d.strftime("%Y-%m-%d %H:%M")
                for d, s in zip(created, state, strict=True)
            ],
            "utm_campaign": rng.choice(["spring", "b2b"], n),
            "campaign": campaigns,
            "Competitor": competitor,
            "Stage": stage,
        }
    )


GENERIC_MAPPING = {
    "name": "generic",
    "lead_id": {"row_number": True},
    "created_at": "Created",
    "mql_at": "Qualified",
    "contract": {"campaign": "utm_campaign"},
    "features": {
        "campaign": {"column": "campaign", "type": "numeric"},
        "competitor": {"column": "Competitor", "not_missing": ["None"]},
    },
    "outcome": {"column": "Stage", "won": ["Won"], "lost": ["Lost"], "other": "open"},
}


def test_a_file_without_an_id_column_is_numbered_by_row(tmp_path: Path) -> None:
    export = _generic_export()
    path = _write_csv(export, tmp_path / "export.csv", ",", "utf-8")
    imported = import_export(path, parse_mapping(GENERIC_MAPPING))
    leads = imported.history.leads
    kept = (~export["Stage"].isin(["", "Negotiation"])).to_numpy().nonzero()[0]
    assert leads["lead_id"].tolist() == [f"row-{i + 2}" for i in kept]  # spreadsheet rows
    assert set(imported.history.feedback["lead_id"]) <= set(leads["lead_id"])
    assert any("no id column" in note for note in imported.notes)


def test_a_feature_named_like_a_contract_field_is_renamed(tmp_path: Path) -> None:
    path = _write_csv(_generic_export(), tmp_path / "export.csv", ",", "utf-8")
    mapping = parse_mapping(GENERIC_MAPPING)
    assert [c.name for c in mapping.features] == ["campaign_2", "competitor"]
    imported = import_export(path, mapping)
    assert imported.spec.numeric == ("campaign_2",)
    assert "campaign" in imported.spec.categorical  # the contract's utm campaign stays
    leads = imported.history.leads
    assert set(leads["campaign"].dropna()) == {"spring", "b2b"}
    assert leads["campaign_2"].dtype == float and leads["campaign_2"].max() == 5
    assert any("'campaign' renamed 'campaign_2'" in note for note in imported.notes)
    reserved = {**GENERIC_MAPPING, "features": {"y_won": "campaign", "y_won_2": "Competitor"}}
    assert [c.name for c in parse_mapping(reserved).features] == ["y_won_3", "y_won_2"]


def test_unlabelled_open_rows_are_set_aside_not_bad_rows(tmp_path: Path) -> None:
    """Open rows without a qualification date used to be "bad rows" (required mql_at
    missing) — 30 % of the file, so validation refused to train."""
    export = _generic_export()
    path = _write_csv(export, tmp_path / "export.csv", ",", "utf-8")
    imported = import_export(path, parse_mapping(GENERIC_MAPPING))
    still_open = export["Stage"].isin(["", "Negotiation"])
    assert imported.summary["open"] == int(still_open.sum())
    assert imported.summary["set_aside"] == int(still_open.sum())
    assert len(imported.history.leads) == int((~still_open).sum())
    assert any("set aside" in note and "mql_at" in note for note in imported.notes)
    assert any("empty outcome column 'Stage'" in note for note in imported.notes)
    checked = validate_history(imported.history)
    assert checked.report.empty, checked.report.head()
    # a *labelled* row without its date is still a problem validation reports
    export.loc[(~still_open).to_numpy().nonzero()[0][:3], "Qualified"] = ""
    broken = import_export(_write_csv(export, tmp_path / "b.csv", ",", "utf-8"),
                           parse_mapping(GENERIC_MAPPING))  # fmt: skip
    report = validate_history(broken.history).report
    leads_problems = report[report["table"] == "leads"]
    assert leads_problems["column"].tolist() == ["mql_at"] * 3


def test_missing_markers_are_per_column(tmp_path: Path) -> None:
    export = _generic_export()
    path = _write_csv(export, tmp_path / "export.csv", ",", "utf-8")
    kept = import_export(path, parse_mapping(GENERIC_MAPPING)).history.leads
    closed = ~export["Stage"].isin(["", "Negotiation"])
    assert kept["competitor"].tolist() == export.loc[closed, "Competitor"].tolist()
    assert not any("cells read as missing" in n for n in import_export(
        path, parse_mapping(GENERIC_MAPPING)).notes)  # fmt: skip
    default = {**GENERIC_MAPPING, "features": {"competitor": "Competitor"}}
    imported = import_export(path, parse_mapping(default))
    assert set(imported.history.leads["competitor"].dropna()) == {"Acme", "Globex"}
    note = next(n for n in imported.notes if "cells read as missing" in n)
    assert "'Competitor'" in note and "('None' " in note and "`not_missing: [None]`" in note
    # an explicit marker of the mapping is intended: no note
    declared = {**default, "missing_values": ["None"]}
    assert not any("cells read as missing" in n for n in import_export(
        path, parse_mapping(declared)).notes)  # fmt: skip


@pytest.mark.slow
def test_cli_trains_on_a_generic_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """All four frictions in one file, as a new user meets them: it trains and registers."""
    import yaml

    from cli.app import app

    path = _write_csv(_generic_export(2500, seed=9), tmp_path / "export.csv", ",", "utf-8")
    mapping = tmp_path / "generic.yaml"
    mapping.write_text(yaml.safe_dump(GENERIC_MAPPING, allow_unicode=True))
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "renamed 'campaign_2'" in result.output and "set aside" in result.output
    assert "validated: all rows valid" in result.output
    assert "registered leadscore v1" in result.output


def test_open_rows_repeating_an_id_are_set_aside(tmp_path: Path) -> None:
    """A deal exported again while still open (same id) is not a "duplicate lead_id"
    bad row: the open copy is set aside; two *closed* copies stay a validation problem."""
    frame = pd.DataFrame(
        {
            "ID": ["a", "a", "b", "c", "c", "d"],
            "Created": [f"2024-01-0{d}" for d in (1, 1, 2, 3, 3, 4)],
            "Stage": ["Won", "Talking", "Lost", "Won", "Lost", "Talking"],
        }
    )
    path = _write_csv(frame, tmp_path / "dupes.csv", ",", "utf-8")
    outcome = {"column": "Stage", "won": ["Won"], "lost": ["Lost"], "other": "open"}
    mapping = {"lead_id": "ID", "created_at": "Created", "outcome": outcome}
    imported = import_export(path, parse_mapping(mapping))
    assert imported.history.leads["lead_id"].tolist() == ["a", "b", "c", "c", "d"]
    assert imported.summary["set_aside"] == 1
    assert any("an id another row has 1" in note for note in imported.notes)
    report = validate_history(imported.history, max_bad_share=1.0).report
    assert report[report["table"] == "leads"]["problem"].tolist() == ["duplicate lead_id"]
