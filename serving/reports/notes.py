"""Notes and warnings that can be said in the reader's language.

A report's notes and warnings are English sentences in its JSON (the API's consumers read
them as they are). Each is a :class:`Note`: the same string, carrying the code and the
parameters it was made from, so the pages and the HTML report render it from the
language's catalogue (``note.<code>`` in :mod:`serving.i18n.report_labels`) instead of
translating the English back.
"""

from __future__ import annotations

from typing import Any


class Note(str):
    """An English note (``str(note)``) with its ``code`` and ``params``."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, text: str, **params: Any) -> Note:
        note = super().__new__(cls, text)
        note.code = code
        note.params = params
        return note

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles keep the code
        return (_note, (self.code, str(self), self.params))


def _note(code: str, text: str, params: dict[str, Any]) -> Note:
    return Note(code, text, **params)
