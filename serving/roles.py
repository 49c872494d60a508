"""The roles an API key may hold.

A module of its own because two floors of serving name them: auth checks a caller's role,
and the store's tables keep it with each key. Importing it from either would tie them in
a loop.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """What an API key may do. ``admin`` may do everything; the rest are scoped by endpoint.

    Stored with each key (``serving.tables.ApiKey.role``, whose CHECK constraint lists
    these values).
    """

    SCORER = "scorer"  # systems that ask for scores (CRM, marketing automation)
    SALES = "sales"  # sends accept / reject / outcome feedback
    MARKETING = "marketing"  # reads reports and the decision log
    ADMIN = "admin"  # manages keys and models; allowed everywhere
