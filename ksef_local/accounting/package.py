"""The accountant's package of one month: a ZIP with every sales and purchase invoice as XML and PDF, the UPOs of
our sales, the register (rejestr_RRRR-MM.csv, accounting/register.py) and CZYTAJ_MNIE.txt saying what is inside.

Which invoices (the rule the screen and the command line state): sales invoices issued in the month (by issue
date, imported ones too; drafts are not invoices); purchase invoices KSeF received in the month (by the day of
their KSeF number, the receipt date of ksef-docs pobieranie-faktur/przyrostowe-pobieranie-faktur.md), of the
current KSeF environment, as the purchase screen shows them.

Bounded memory: the ZIP is written to a file, one invoice at a time; a PDF is rendered where printing/render.py
decides (a long invoice in a worker process). Never half-written: everything goes to a hidden ".part" file in
the destination's folder, which takes the destination's name only once complete and on disk (os.replace, after
fsync); a failure or a cancel removes it.
"""
from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from ksef_local import formats, printing
from ksef_local.accounting import register
from ksef_local.clock import local_now
from ksef_local.core import money
from ksef_local.core.settings import DEMO_MODE, environment_key
from ksef_local.errors import UserError
from ksef_local.fa3.purchase import parse_purchase
from ksef_local.printing import pdf, render
from ksef_local.printing.purchases import render_purchase_pdf
from ksef_local.services import Services, qr_host_for_key
from ksef_local.store import invoices, month_exports, outbox, parties, purchases
from ksef_local.version import VERSION

Progress = Callable[[int, int], bool]   # (done, total) → False to stop
BUSY_TRIES = 30                          # a worker slot busy with someone's big printout: wait, then try again
BUSY_WAIT = 2.0


class Cancelled(Exception):
    """The package is no longer wanted (a newer request, the program closing); nothing was left behind."""


@dataclass(frozen=True)
class Package:
    path: Path
    size: int
    sales: int
    purchases: int
    notes: tuple[str, ...]   # Polish: invoices without a PDF or without an UPO, and why


def package_name(month: str, nip: str | None) -> str:
    """Faktury_2026-11_5261040828.zip: the month first, the company's NIP for an accountant with many clients."""
    return formats.safe_filename(f"Faktury_{month}" + (f"_{nip}" if nip else ""), ".zip")


def empty_month(month: str) -> str:
    return (f"Za {formats.pl_month(month)} nie ma żadnych faktur: ani wystawionych w tym miesiącu (według daty "
            "wystawienia), ani zakupowych otrzymanych wtedy w KSeF (według daty otrzymania). Wybierz inny miesiąc.")


class _Names:
    """File names inside the ZIP, each used once (two sellers may both number an invoice FV/1/11/2026)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def stem(self, folder: str, stem: str) -> str:
        candidate, n = stem, 1
        while f"{folder}/{candidate}" in self.used:
            n += 1
            candidate = f"{stem}_{n}"
        self.used.add(f"{folder}/{candidate}")
        return f"{folder}/{candidate}"


class _Writer:
    """The month's files into one open ZIP, with the register rows and the notes they produce."""

    def __init__(self, services: Services, archive: zipfile.ZipFile, moment: datetime, *, demo_url: str | None,
                 limits: render.Limits, sleep: Callable[[float], None]) -> None:
        self.services, self.db, self.archive, self.moment = services, services.db(), archive, moment
        self.demo_url, self.limits, self.sleep = demo_url, limits, sleep
        self.names = _Names()
        self.rows: list[list[str]] = []
        self.notes: list[str] = []
        self.current = environment_key(services.settings())
        _, self.signer = printing.verification_setup(services, now=moment)

    def put(self, name: str, data: bytes, compress: bool = True) -> None:
        info = zipfile.ZipInfo(name, date_time=self.moment.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.archive.writestr(info, data)

    def _host(self, key: str) -> str | None:
        try:
            return qr_host_for_key(key, demo_url=self.services.simulator_url or self.demo_url)
        except (UserError, ValueError):
            return None

    def _pdf(self, label: str, render_it: Callable[[], bytes]) -> bytes | None:
        """A PDF, or None with a note saying why there is none (too long, no verification address)."""
        for _ in range(BUSY_TRIES):
            try:
                return render_it()
            except UserError as exc:
                if exc.status != 503:
                    self.notes.append(f"Bez PDF: {label} – {exc.message}")
                    return None
                self.sleep(BUSY_WAIT)
            except pdf.PdfError:
                self.notes.append(f"Bez PDF: {label} – wydruk się nie powiódł; pełna treść jest w pliku XML.")
                return None
        self.notes.append(f"Bez PDF: {label} – program był zajęty innym dużym wydrukiem; przygotuj paczkę ponownie.")
        return None

    def sale(self, row: dict) -> None:
        full = invoices.get_invoice(self.db, row["id"])
        xml = bytes(full["xml"])
        base = self.names.stem("sprzedaz", formats.safe_filename(row["number"]))
        self.put(f"{base}.xml", xml)
        key = outbox.environment_of(self.db, row["id"]) or self.current
        made = self._pdf(row["number"], lambda: printing.render_invoice_pdf(
            self.db, row["id"], qr_host=self._host(key), offline_cert=self.signer, now=self.moment,
            limits=self.limits))
        if made is not None:
            self.put(f"{base}.pdf", made, compress=False)
        upo = outbox.upo(self.db, row["id"])
        if upo is not None:
            self.put(f"sprzedaz/UPO_{base.split('/', 1)[1]}.xml", upo)
        else:
            self.notes.append(f"Bez UPO: {row['number']} – faktura nie została (jeszcze) przyjęta przez KSeF.")
        vat_pln = row["vat_total"] if row["currency"] == "PLN" else _vat_pln(xml)
        self.rows.append(register.sale_row(row, vat_pln, f"{base}.xml", f"{base}.pdf" if made else ""))

    def purchase(self, row: dict) -> None:
        base = self.names.stem("zakupy", formats.safe_filename(f"{row['seller_nip']}_{row['number']}"))
        self.put(f"{base}.xml", purchases.xml_bytes(self.db, row["id"]))
        label = f"{row['number']} ({row['seller_name']})"
        made = self._pdf(label, lambda: render_purchase_pdf(self.db, row["id"], qr_host=self._host(row["environment"]),
                                                            now=self.moment, limits=self.limits))
        if made is not None:
            self.put(f"{base}.pdf", made, compress=False)
        self.rows.append(register.purchase_row(row, f"{base}.xml", f"{base}.pdf" if made else ""))


def _vat_pln(xml: bytes) -> int | None:
    """The VAT in PLN of a foreign-currency sales invoice, from its P_14_xW (read like a purchase's)."""
    try:
        return money.to_grosze(parse_purchase(xml).vat_pln)
    except ValueError:
        return None


def build(services: Services, month: str, destination: Path, *, environment: str | None = None,
          progress: Progress | None = None, demo_url: str | None = None, now: datetime | None = None,
          limits: render.Limits = render.LIMITS, sleep: Callable[[float], None] = time.sleep) -> Package:
    """Write the month's package to destination; UserError (Polish) for a month without invoices, Cancelled
    when progress() says stop. demo_url: where the demo mode's simulator answers when it is not running here
    (the command line), for the QR codes of demo invoices."""
    db = services.db()
    environment = environment or environment_key(services.settings())
    sales = month_exports.sales_of_month(db, month)
    bought, _ = purchases.list_purchases(db, month=month, environment=environment, sort="otrzymano", desc=False,
                                         per_page=1_000_000_000)
    if not sales and not bought:
        raise UserError(empty_month(month), 422)
    total, moment = len(sales) + len(bought), (now or local_now()).astimezone()
    report = progress or (lambda done, all_: True)
    if not report(0, total):
        raise Cancelled()
    handle, partial_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                writer = _Writer(services, archive, moment, demo_url=demo_url, limits=limits, sleep=sleep)
                for done, (add, row) in enumerate([(writer.sale, r) for r in sales] +
                                                  [(writer.purchase, r) for r in bought], start=1):
                    add(row)
                    if not report(done, total):
                        raise Cancelled()
                register_name = f"rejestr_{month}.csv"
                with archive.open(zipfile.ZipInfo(register_name, date_time=moment.timetuple()[:6]), "w") as entry:
                    with io.TextIOWrapper(entry, encoding="utf-8", newline="") as text:
                        register.write(text, writer.rows)
                writer.put("CZYTAJ_MNIE.txt", _readme(services, month, environment, moment, len(sales), len(bought),
                                                      register_name, writer.notes).encode("utf-8"))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Package(destination, destination.stat().st_size, len(sales), len(bought), tuple(writer.notes))


def _readme(services: Services, month: str, environment: str, moment: datetime, sales: int, bought: int,
            register_name: str, notes: list[str]) -> str:
    company = parties.get_company(services.db()) or {}
    name = formats.pl_month(month)
    lines = [f"Paczka dla księgowej za {name}",
             f"Firma: {company.get('name', '')}, NIP {formats.format_nip(company.get('nip'))}",
             f"Przygotowano: {formats.pl_datetime(moment)} (ksef-local {VERSION})", "",
             "Co jest w paczce:",
             f"- sprzedaz/ – faktury sprzedaży wystawione w tym miesiącu, według daty wystawienia ({sales}): plik XML "
             "(FA(3)), wydruk PDF i UPO z KSeF.",
             f"- zakupy/ – faktury zakupowe otrzymane w KSeF w tym miesiącu, według daty otrzymania, czyli daty numeru "
             f"KSeF ({bought}): plik XML dokładnie taki, jaki dał KSeF, i wydruk PDF.",
             f"- {register_name} – zestawienie wszystkich faktur (numer, numer KSeF, daty, kontrahent, netto, VAT, "
             "brutto, waluta, zapłata). Otwiera się w Excelu i LibreOffice: UTF-8, średniki, przecinek dziesiętny."]
    if environment == DEMO_MODE:
        lines += ["", "Uwaga: tryb demonstracyjny – faktury nie pochodzą z prawdziwego KSeF."]
    if notes:
        lines += ["", "Uwagi:"] + [f"- {note}" for note in notes]
    return "\r\n".join(lines) + "\r\n"
