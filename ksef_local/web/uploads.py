"""How much one request may upload, and which limit a refused upload hit, in Polish.

Every screen keeps the app's MAX_CONTENT_LENGTH (app.py). The invoice import is the exception: importing a year of
invoices at once is what a shop owner moving from another program does (a shop issuing a few invoices a day has
1000-2000 files; an FA(3) file from a typical program has 3-30 kB), so one import takes up to MAX_IMPORT_FILES files
and MAX_IMPORT_BYTES in all. Werkzeug keeps each small file in memory while the request is parsed (a spooled file of
500 kB), so the total is what bounds the memory. Werkzeug answers both a body over the limit and too many form
parts with the same 413; too_large_message() tells them apart by the length the browser declared.

The import screen itself refuses more than MAX_IMPORT_FILES files; Werkzeug's limit of form parts sits well above
that, only against a body of countless tiny parts: when it aborts the parsing, the parts read so far are left to
the garbage collector, where a whole parse closes them with the request.
"""
from __future__ import annotations

from flask import request

IMPORT_ENDPOINT = "invoices.import_files"
MAX_IMPORT_FILES = 5000
MAX_IMPORT_BYTES = 100 * 1_000_000
_MB = 1_000_000


def allow_bulk_import() -> None:
    """Widen the limits for an import, before anything reads the form (register it before the CSRF check)."""
    if request.endpoint == IMPORT_ENDPOINT and request.method == "POST":
        request.max_content_length = MAX_IMPORT_BYTES
        request.max_form_parts = 2 * MAX_IMPORT_FILES


def too_many_files_message() -> str:
    return (f"Naraz można zaimportować najwyżej {MAX_IMPORT_FILES} plików, a wybrano więcej. Podziel import na "
            "części (np. po miesiącach) i zaimportuj je po kolei; faktury już zaimportowane program rozpozna.")


def too_large_message() -> str:
    """Say what made the upload too large: the number of files or their total size."""
    limit = request.max_content_length
    declared = request.content_length
    over_size = limit is not None and declared is not None and declared > limit
    if request.endpoint == IMPORT_ENDPOINT:
        if not over_size:
            return too_many_files_message()
        return (f"Wybrane pliki mają razem ponad {MAX_IMPORT_BYTES // _MB} MB: tyle nie da się przesłać naraz. "
                "Podziel import na części (np. po miesiącach) i zaimportuj je po kolei.")
    if limit is None:
        return "Przesłane dane są za duże."
    return f"Przesłane pliki są za duże: razem mogą mieć najwyżej {limit // _MB} MB."
