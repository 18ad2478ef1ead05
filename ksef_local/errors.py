"""Errors the user can act on. Each carries a Polish message written for the user.

One handler in web/__init__.py renders them as a page or an htmx fragment; the CLI prints them.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user asked for cannot be done; the message says why and what to do (in Polish)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NotFound(UserError):
    """The record does not exist (any more)."""

    def __init__(self, message: str = "Nie znaleziono takiego dokumentu.") -> None:
        super().__init__(message, status=404)


class ValidationFailed(UserError):
    """Input is wrong: ``errors`` maps a form field name to a Polish message about it."""

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        summary = message or "Popraw zaznaczone pola: " + " ".join(errors.values())
        super().__init__(summary, status=422)
        self.errors = errors
