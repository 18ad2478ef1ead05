"""Text and digits as users type them, made canonical once, here at the input boundary.

What is stored is then exactly what is issued: the FA(3) writer (fa3/build.py) finds nothing left to drop or
collapse, so the database, the screens and the XML sent to KSeF show the same characters.

- Unicode NFC: a letter typed or pasted in decomposed form ("a" + combining ogonek, as macOS and some PDFs
  give it) becomes the one precomposed letter, so searches, length limits (FA(3) counts characters) and the
  XML agree. Not NFKC: that would turn "m²" into "m2" and change what the user wrote.
- Characters an FA(3) file cannot carry are dropped (NUL and other control characters, KSeF's discouraged
  characters: fa3.names.writable, docs/fa3-notes.md §1).
- A single-line field keeps single spaces: tabs, line breaks and runs of any whitespace become one space, as
  xsd:token would collapse them anyway (docs/fa3-notes.md §1).
- A multi-line field (Uwagi, written as StopkaFaktury, xsd:string) keeps its line breaks as "\\n"; a tab becomes
  a space (printouts have no tab stops) and trailing spaces of each line go.
- Digits are ASCII digits: Python's str.isdigit() and re's \\d also accept "²", "５" (fullwidth) and the digits of
  other scripts, and the FA(3) XSD's \\d lets them into the XML.
"""
from __future__ import annotations

import unicodedata

from ksef_local.fa3.names import writable


def single_line(value: object) -> str:
    """Return the text of a one-line field in canonical form (NFC, writable, whitespace collapsed)."""
    text = writable(unicodedata.normalize("NFC", "" if value is None else str(value)))
    return " ".join(text.split())


def multi_line(value: object) -> str:
    """Return the text of a multi-line field in canonical form, line breaks kept as "\\n"."""
    text = writable(unicodedata.normalize("NFC", "" if value is None else str(value)))
    return "\n".join(line.replace("\t", " ").rstrip() for line in text.splitlines()).strip()


def is_ascii_digits(text: str) -> bool:
    """Return True when the text is one or more of the digits 0-9 and nothing else."""
    return text.isascii() and text.isdigit()


# SQLite's INTEGER is a signed 64-bit number (sqlite.org/datatype3.html): no row id is larger, and a larger
# Python int passed as a parameter fails with OverflowError instead of finding nothing.
MAX_RECORD_ID = 2**63 - 1


def record_id(text: str) -> int | None:
    """Return the record id the text holds (ASCII digits, 1 to MAX_RECORD_ID), or None when it holds none."""
    if not is_ascii_digits(text) or len(text) > len(str(MAX_RECORD_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_RECORD_ID else None


def has_lookalike_digits(text: str) -> bool:
    """Return True when the text holds characters that are digits to Unicode but not 0-9 ("²", "５")."""
    return any(c.isdigit() and not c.isascii() for c in text)


LOOKALIKE_DIGITS = ("zawiera znaki, które tylko wyglądają jak cyfry (np. cyfry pełnej szerokości albo indeksy "
                    "górne): wpisz cyfry z klawiatury.")
