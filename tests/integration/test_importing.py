"""Flat CRM exports → CRMHistory: the built-in mappings read real-looking exports as they
come out of amoCRM and Bitrix24 (Russian and English headers, CSV and XLSX), misfits fail
with the column named, and sales-side and personal columns never become features.

Every fixture file is written by the test itself into ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from scoring.contract import Channel, RejectionReason
from tests.integration.importing_helpers import (
    REASON_TARGETS,
    REASONS_RU,
    SOURCES_RU,
    _deals,
    _write_csv,
    amocrm_ru,
    bitrix_ru,
    kommo_en,
)
from training.importing import (
    NO_TIME,
    MappingError,
    builtin_mappings,
    import_export,
    load_mapping,
    parse_mapping,
)
from training.labels import stage_labels
from training.train import build_dataset


@pytest.fixture
def deals() -> pd.DataFrame:
    return _deals(400)


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
