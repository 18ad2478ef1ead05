"""The accountant's month package on real SQLite and real files: which invoices (sales by issue date, purchases by
receipt in KSeF, this environment's), every XML byte for byte, PDFs that render with their QR codes, the UPOs
of sales KSeF accepted (the sender against the simulator over HTTP), the CSV register read back with Python's
csv module, nothing half-written on a failure or a cancel, an empty month refused; then the worker and the
"Dla księgowej" screen that offers the finished file."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader

from ksef_local.accounting import register
from ksef_local.accounting.package import Cancelled, build
from ksef_local.accounting.worker import Exporter, folder_of
from ksef_local.core.model import Party
from ksef_local.errors import UserError
from ksef_local.printing import render
from ksef_local.store import invoices, month_exports, outbox, purchases
from tests.factories import issued
from tests.pdf_support import qr_texts
from tests.purchase_support import SELLER, add_purchase
from tests.sender_support import drive, rig

DEMO_URL = "http://127.0.0.1:8765"
NOVEMBER = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def services(app):
    return app.extensions["ksef_local"]


@pytest.fixture
def month(db, company):
    """November 2026: two sales invoices (and one from October), purchases received in November in Warsaw
    (one just after midnight of 1.11, which is still 31.10 in UTC), one from October, one from production."""
    sales = [issued(db), issued(db)]
    october = issued(db, issue_date="2026-10-31", sale_date="2026-10-31")
    bought = [add_purchase(db, 1, received=datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc)),   # 1.11 in Warsaw
              add_purchase(db, 2, seller=Party(name="=HYPERLINK(\"http://x\") Żółć S.A.", nip="9462631745",
                                                address_l1="ul. Długa 1"), received=NOVEMBER)]
    add_purchase(db, 3, received=datetime(2026, 10, 31, 22, 30, tzinfo=timezone.utc))             # 31.10 in Warsaw
    add_purchase(db, 4, environment="PROD", received=NOVEMBER)
    return {"sales": sales, "october": october, "bought": bought}


def read_register(archive: zipfile.ZipFile, name: str = "rejestr_2026-11.csv") -> list[list[str]]:
    raw = archive.read(name)
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw               # UTF-8 with its mark, CRLF
    with io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="") as text:
        return list(csv.reader(text, delimiter=";"))


def test_the_package_holds_the_months_invoices_by_the_rule(services, db, month, tmp_path):
    made = build(services, "2026-11", tmp_path / "paczka.zip", demo_url=DEMO_URL)
    assert (made.sales, made.purchases) == (2, 2) and made.size == (tmp_path / "paczka.zip").stat().st_size
    with zipfile.ZipFile(made.path) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        assert names == {"sprzedaz/FV_2026_11_1.xml", "sprzedaz/FV_2026_11_1.pdf", "sprzedaz/FV_2026_11_2.xml",
                         "sprzedaz/FV_2026_11_2.pdf", "zakupy/7740001454_FV_1_11_2026.xml",
                         "zakupy/7740001454_FV_1_11_2026.pdf", "zakupy/9462631745_FV_2_11_2026.xml",
                         "zakupy/9462631745_FV_2_11_2026.pdf", "rejestr_2026-11.csv", "CZYTAJ_MNIE.txt"}
        for invoice_id in month["sales"]:
            row = invoices.get_invoice(db, invoice_id)
            assert archive.read(f"sprzedaz/{row['number'].replace('/', '_')}.xml") == bytes(row["xml"])
        first = purchases.get_purchase(db, month["bought"][0])
        assert archive.read("zakupy/7740001454_FV_1_11_2026.xml") == purchases.xml_bytes(db, first["id"])
        # a purchase's printout carries KOD I of the seller's invoice, as a phone reads it
        printout = archive.read("zakupy/7740001454_FV_1_11_2026.pdf")
        assert len(PdfReader(io.BytesIO(printout)).pages) >= 1
        [link] = qr_texts(printout)
        assert link.startswith(f"{DEMO_URL}/invoice/{SELLER.nip}/20-11-2026/")
        readme = archive.read("CZYTAJ_MNIE.txt").decode("utf-8")
    assert "Paczka dla księgowej za listopad 2026" in readme and "według daty wystawienia (2)" in readme
    assert "według daty otrzymania, czyli daty numeru KSeF (2)" in readme
    assert "Bez UPO: FV/2026/11/1" in readme   # not sent to KSeF: said, not hidden
    assert "tryb demonstracyjny" in readme


def test_the_register_opens_with_polish_letters_numbers_and_no_formulas(services, db, month, tmp_path):
    made = build(services, "2026-11", tmp_path / "paczka.zip", demo_url=DEMO_URL)
    with zipfile.ZipFile(made.path) as archive:
        rows = read_register(archive)
    assert tuple(rows[0]) == register.COLUMNS
    by_number = {(r[0], r[2]): dict(zip(register.COLUMNS, r, strict=True)) for r in rows[1:]}
    assert len(rows) == 5 and [r[0] for r in rows[1:]] == ["sprzedaż", "sprzedaż", "zakup", "zakup"]
    sale = by_number[("sprzedaż", "FV/2026/11/1")]
    assert (sale["Kontrahent"], sale["NIP kontrahenta"]) == ("Hurtownia Łódź Sp. z o.o.", "7740001454")
    assert (sale["Netto"], sale["VAT"], sale["Brutto"], sale["Waluta"]) == ("615,00", "115,35", "730,35", "PLN")
    assert (sale["Data wystawienia"], sale["Zapłacona"], sale["Plik PDF"]) == ("2026-11-24", "nie",
                                                                                "sprzedaz/FV_2026_11_1.pdf")
    bought = by_number[("zakup", "FV/1/11/2026")]
    assert bought["Kontrahent"] == "Łódzka Hurtownia Papieru Sp. z o.o."
    assert (bought["Data otrzymania w KSeF"], bought["Brutto"], bought["VAT w PLN"]) == ("2026-11-01", "304,14",
                                                                                          "51,34")
    assert bought["Numer KSeF"] == purchases.get_purchase(db, month["bought"][0])["ksef_number"]
    # a seller's name from KSeF that looks like a formula stays text
    assert by_number[("zakup", "FV/2/11/2026")]["Kontrahent"] == "'=HYPERLINK(\"http://x\") Żółć S.A."


def test_register_cells():
    assert [register.amount(v) for v in (123456, -1230, 0, None)] == ["1234,56", "-12,30", "0,00", ""]
    assert [register.text(v) for v in ("=1+1", "+48", "-x", "@a", "\tx", "FV/1", None)] == [
        "'=1+1", "'+48", "'-x", "'@a", "'\tx", "FV/1", ""]


def test_paid_purchases_say_when_in_the_register(services, db, month, tmp_path):
    purchases.mark_paid(db, month["bought"][0], date(2026, 11, 22))
    with zipfile.ZipFile(build(services, "2026-11", tmp_path / "p.zip", demo_url=DEMO_URL).path) as archive:
        row = next(r for r in read_register(archive) if r[2] == "FV/1/11/2026")
    assert (row[15], row[16]) == ("tak", "2026-11-22")


def test_an_empty_month_is_refused_and_writes_nothing(services, month, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UserError) as refused:
        build(services, "2026-09", out / "pusty.zip")
    assert refused.value.status == 422 and "Za wrzesień 2026 nie ma żadnych faktur" in refused.value.message
    assert list(out.iterdir()) == []


def test_never_a_half_written_package(services, month, tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "paczka.zip"
    target.write_bytes(b"the package of last time")

    def stop_at_three(done: int, total: int) -> bool:
        return done < 3

    with pytest.raises(Cancelled):
        build(services, "2026-11", target, progress=stop_at_three, demo_url=DEMO_URL)

    def fail_at_two(done: int, total: int) -> bool:
        if done == 2:
            raise OSError(28, "No space left on device")
        return True

    with pytest.raises(OSError):
        build(services, "2026-11", target, progress=fail_at_two, demo_url=DEMO_URL)
    # the earlier file is untouched, no partial file is left beside it
    assert [p.name for p in target.parent.iterdir()] == ["paczka.zip"]
    assert target.read_bytes() == b"the package of last time"


def test_an_invoice_too_long_for_a_pdf_is_noted_and_the_package_is_made(services, month, tmp_path):
    made = build(services, "2026-11", tmp_path / "p.zip", demo_url=DEMO_URL, limits=render.Limits(max_lines=2))
    with zipfile.ZipFile(made.path) as archive:
        names = archive.namelist()
        rows = read_register(archive)
    assert "sprzedaz/FV_2026_11_1.pdf" not in names and "sprzedaz/FV_2026_11_1.xml" in names   # 3 lines
    assert "zakupy/7740001454_FV_1_11_2026.pdf" in names                                        # 2 lines
    assert any(note.startswith("Bez PDF: FV/2026/11/1 – Ta faktura ma 3 pozycji") for note in made.notes)
    assert next(r for r in rows if r[2] == "FV/2026/11/1")[18] == ""


def test_sales_accepted_by_ksef_carry_their_upo_and_kod_i(app, services, db, company, tmp_path):
    """The sender sends to the simulator over HTTP; the package has the UPO KSeF gave, byte for byte."""
    sale = issued(db)
    with rig(app) as r:
        outbox.enqueue(db, [sale], r.clock(), reachable=True, environment="demo")
        drive(r.sender(), r.clock)
    row = invoices.get_invoice(db, sale)
    assert row["ksef_status"] == "A"
    made = build(services, "2026-11", tmp_path / "p.zip", demo_url=DEMO_URL)
    with zipfile.ZipFile(made.path) as archive:
        assert archive.read("sprzedaz/UPO_FV_2026_11_1.xml") == outbox.upo(db, sale)
        [link] = qr_texts(archive.read("sprzedaz/FV_2026_11_1.pdf"))
        number = next(r for r in read_register(archive) if r[0] == "sprzedaż")[3]
    assert link.startswith(f"{DEMO_URL}/invoice/5261040828/24-11-2026/") and number == row["ksef_number"]
    assert not any("Bez UPO" in note for note in made.notes)


# -- the worker and the screen ---------------------------------------------------------------------------------

def test_the_worker_makes_the_newest_request_and_the_screen_offers_its_file(app, client, services, db, month):
    worker = Exporter(services, demo_url=DEMO_URL)
    older = month_exports.request(db, "2026-10", "demo", NOVEMBER)
    answer = client.post("/dla-ksiegowej/paczka", data={"miesiac": "2026-11"}, htmx=True)
    export_id = int(re.search(r'id="export-(\d+)"', answer.text).group(1))
    assert "Przygotowuję paczkę za listopad 2026" in answer.text and "every 1s" in answer.text
    assert '<div id="messages" hx-swap-oob="innerHTML"></div>' in answer.text   # an earlier refusal goes away
    assert month_exports.get(db, older).result_title == "Zastąpione nowszym poleceniem"
    assert worker.run_once() and not worker.run_once()        # one request, then nothing to do
    done = month_exports.get(db, export_id)
    assert done.succeeded and (done.sales, done.purchases, done.done, done.total) == (2, 2, 4, 4)
    ready = client.get(f"/dla-ksiegowej/paczka/{export_id}?czekam=1")
    assert "Paczka za listopad 2026 jest gotowa" in ready.text and "data-auto-download" in ready.text
    assert "every 1s" not in ready.text
    assert "data-auto-download" not in client.get("/dla-ksiegowej").text     # a later visit saves nothing itself
    saved = client.get(f"/dla-ksiegowej/paczka/{export_id}/plik")
    assert saved.status_code == 200 and saved.mimetype == "application/zip"
    assert saved.headers["Content-Disposition"] == "attachment; filename=Faktury_2026-11_5261040828.zip"
    data = saved.data
    saved.close()
    assert data == (folder_of(services) / "Faktury_2026-11_5261040828.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert len(read_register(archive)) == 5
    # a newer package replaces the older file; the older link says so in Polish
    client.post("/dla-ksiegowej/paczka", data={"miesiac": "2026-10"}, htmx=True)
    worker.run_once()
    gone = client.get(f"/dla-ksiegowej/paczka/{export_id}/plik")
    assert gone.status_code == 404 and "Przygotuj ją ponownie" in gone.text
    assert sorted(p.name for p in folder_of(services).iterdir()) == ["Faktury_2026-10_5261040828.zip"]


def test_the_screen_refuses_a_bad_or_empty_month_and_an_unknown_package(client, db, month):
    bad = client.post("/dla-ksiegowej/paczka", data={"miesiac": "2026-13"}, htmx=True)
    assert bad.status_code == 400 and "Nieprawidłowy miesiąc" in bad.text and bad.headers["HX-Retarget"] == "#messages"
    empty = client.post("/dla-ksiegowej/paczka", data={"miesiac": "2026-09"}, htmx=True)
    assert empty.status_code == 422 and "Za wrzesień 2026 nie ma żadnych faktur" in empty.text
    assert month_exports.latest(db) is None
    assert client.get("/dla-ksiegowej/paczka/77").status_code == 404
    assert client.get("/dla-ksiegowej/paczka/77/plik").status_code == 404
    assert client.raw.post("/dla-ksiegowej/paczka", data={"miesiac": "2026-11"}).status_code == 403
    page = client.get("/dla-ksiegowej").text
    assert "według daty wystawienia" in page and "według daty otrzymania, czyli daty" in page
    assert re.search(r'<option value="2026-11"[^>]*>listopad 2026 – sprzedaż: 2, zakupy: 2</option>', page)
    # a link may name the month; the command line's example names it too; a bad one is refused in Polish
    chosen = client.get("/dla-ksiegowej?miesiac=2026-11").text
    assert re.search(r'<option value="2026-11" selected>', chosen) and "ksef-local export 2026-11 -o" in chosen
    refused = client.get("/dla-ksiegowej?miesiac=2026-13")
    assert refused.status_code == 400 and "Nieprawidłowy miesiąc" in refused.text


def test_a_package_the_program_left_unfinished_says_so_at_the_next_start(services, db, month):
    export_id = month_exports.request(db, "2026-11", "demo", NOVEMBER)
    month_exports.claim(db, NOVEMBER)
    worker = Exporter(services, idle_wait=0.01)
    worker.start()
    worker.stop()
    left = month_exports.get(db, export_id)
    assert left.state == "failed" and left.result_title.startswith("Przerwano: program został zamknięty")


def test_a_failed_package_shows_why(client, services, db, month):
    export_id = month_exports.request(db, "2026-11", "demo", NOVEMBER)
    blocked = folder_of(services)
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the folder should be")   # the worker cannot write its package
    assert Exporter(services).run_once()
    failed = month_exports.get(db, export_id)
    assert failed.state == "failed" and failed.result_title == "Nie udało się przygotować paczki"
    page = client.get(f"/dla-ksiegowej/paczka/{export_id}").text
    assert "Nie udało się przygotować paczki" in page and "FileExistsError" in page
    assert not Path(str(blocked) + ".zip").exists()
