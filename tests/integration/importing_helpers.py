"""Synthetic CRM deals and the amoCRM, Kommo and Bitrix24 exports made from them, shared by
the importing tests (and ``test_training_rules``). Every file is written into ``tmp_path``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

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


def _write_csv(frame: pd.DataFrame, path: Path, sep: str, encoding: str) -> Path:
    frame.to_csv(path, index=False, sep=sep, encoding=encoding)
    return path
