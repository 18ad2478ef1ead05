"""The register of a month's invoices (rejestr_RRRR-MM.csv in the accountant's package): one row per sales or
purchase invoice, made to open in a spreadsheet with Polish letters and numbers intact.

The format, and why:
- UTF-8 with a byte order mark: Excel on Windows reads a CSV without one in the system's ANSI code page
  (cp1250 in Poland), which garbles ą, ł, ż; with the mark it reads UTF-8 (Microsoft support, "Opening CSV
  UTF-8 files correctly in Excel"). LibreOffice's import recognises the mark too, and Python's csv module
  reads the file with encoding="utf-8-sig".
- Semicolons between fields: Excel splits a double-clicked CSV at the system's list separator, which is ";"
  wherever the decimal separator is a comma, as in Poland. Every field is quoted (RFC 4180), so a program
  that also splits at commas (LibreOffice's default choice) still keeps 1234,56 whole.
- Amounts with a decimal comma and no thousands separator (1234,56; a correction's −12,30 as -12,30): what a
  Polish spreadsheet reads as a number, ready to sum. Dates as RRRR-MM-DD (ISO 8601), which Excel and
  LibreOffice read as dates in every locale, and which is Windows' default short date in Poland.
- A text cell that starts with =, +, -, @ or a tab gets a leading apostrophe, so a seller's name from KSeF
  cannot become a formula (OWASP, "CSV Injection").
- Lines end with CRLF (RFC 4180).
"""
from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any, Iterable, TextIO

COLUMNS = ("Rejestr", "Rodzaj faktury", "Numer faktury", "Numer KSeF", "Data wystawienia", "Data sprzedaży",
           "Data otrzymania w KSeF", "NIP kontrahenta", "Kontrahent", "Netto", "VAT", "Brutto", "Waluta",
           "VAT w PLN", "Termin płatności", "Zapłacona", "Data zapłaty", "Plik XML", "Plik PDF")
SALE, PURCHASE = "sprzedaż", "zakup"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def amount(grosze: int | None) -> str:
    """1234,56 from 123456 grosze; empty for None."""
    if grosze is None:
        return ""
    return f"{Decimal(grosze).scaleb(-2):.2f}".replace(".", ",")


def text(value: Any) -> str:
    """A text cell that no spreadsheet takes for a formula."""
    shown = "" if value is None else str(value)
    return f"'{shown}" if shown.startswith(FORMULA_START) else shown


def sale_row(row: dict[str, Any], vat_pln: int | None, xml_name: str, pdf_name: str) -> list[str]:
    """One sales invoice (an invoices row without its XML)."""
    return [SALE, text(row["kind"]), text(row["number"]), text(row["ksef_number"]), row["issue_date"] or "",
            row["sale_date"] or "", "", text(row["buyer_nip"]), text(row["buyer_name"]), amount(row["net_total"]),
            amount(row["vat_total"]), amount(row["gross_total"]), row["currency"], amount(vat_pln),
            row["due_date"] or "", "tak" if row["paid"] else "nie", row["paid_date"] or "", xml_name, pdf_name]


def purchase_row(row: dict[str, Any], xml_name: str, pdf_name: str) -> list[str]:
    """One purchase invoice (a purchases row without its XML)."""
    return [PURCHASE, text(row["kind"]), text(row["number"]), text(row["ksef_number"]), row["issue_date"] or "",
            row["sale_date"] or "", row["received_day"], text(row["seller_nip"]), text(row["seller_name"]),
            amount(row["net_total"]), amount(row["vat_total"]), amount(row["gross_total"]), row["currency"],
            amount(row["vat_pln"]), row["due_date"] or "", "tak" if row["paid"] else "nie", row["paid_date"] or "",
            xml_name, pdf_name]


def write(stream: TextIO, rows: Iterable[list[str]]) -> None:
    """Write the register to a text stream opened with encoding="utf-8" and newline="" (the mark comes first)."""
    stream.write("\ufeff")
    writer = csv.writer(stream, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
