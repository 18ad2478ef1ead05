"""ksef/receiving.py and ksef/exports.py against the simulator over real HTTP: the metadata query as the seller and
the buyer, the download by KSeF number, the export in parts; one response shape with `responses`."""
from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import responses

from ksef_local.ksef import crypto, errors, exports, receiving
from ksef_local.ksef.client import KsefClient
from tests.ksef_support import OTHER_NIP, SELLER_NIP, deliver, receiving_xml, running_simulator


def test_metadata_query_finds_an_invoice_by_hash_for_the_seller_and_the_buyer():
    with running_simulator() as sim, requests.Session() as http:
        xml = receiving_xml("FV/7/2026")
        delivered = deliver(sim, xml)
        sim.clock.advance(60)   # past the permanent-storage delay: the query sees only stored invoices
        start = sim.clock() - timedelta(days=2)
        expected_hash = base64.b64encode(hashlib.sha256(xml).digest()).decode("ascii")
        for nip, subject in ((SELLER_NIP, receiving.SELLER), (OTHER_NIP, receiving.BUYER)):
            client = sim.client(sim.create_token(nip, ["InvoiceRead"]), http, nip=nip)
            page = receiving.query_metadata(client, {"subjectType": subject,
                                                     "dateRange": receiving.date_range("Invoicing", start)})
            assert [m.ksef_number for m in page.invoices] == [delivered["ksefNumber"]]
            found = page.invoices[0]
            assert (found.invoice_hash, found.invoice_number, found.seller_nip) == (expected_hash, "FV/7/2026",
                                                                                    SELLER_NIP)
            assert found.gross_amount == Decimal("123.00") and found.currency == "PLN"
            assert page.has_more is False and page.is_truncated is False
        # another subject type finds nothing
        empty = receiving.query_metadata(client, {"subjectType": receiving.SELLER,
                                                  "dateRange": receiving.date_range("Invoicing", start)})
        assert empty.invoices == ()


# -- download by KSeF number ---------------------------------------------------------------------------------

def test_download_returns_the_exact_bytes_and_checks_x_ms_meta_hash():
    with running_simulator() as sim, requests.Session() as http:
        client = sim.client(sim.create_token(OTHER_NIP, ["InvoiceRead"]), http, nip=OTHER_NIP)
        client.authenticate()   # logging in moves the fake clock; the invoice comes after it
        xml = receiving_xml("FV/8/2026")
        delivered = deliver(sim, xml)
        with pytest.raises(errors.KsefRequestInvalid) as early:   # KSeF has not stored it for good yet
            receiving.download_invoice(client, delivered["ksefNumber"])
        assert early.value.code == receiving.NOT_YET_AVAILABLE
        sim.clock.advance(60)
        assert receiving.download_invoice(client, delivered["ksefNumber"]) == xml


@responses.activate
def test_a_download_whose_hash_differs_from_x_ms_meta_hash_is_refused():
    client = KsefClient("http://ksef.invalid", None)
    client.auth.access_token = lambda: "token"   # no login: one response shape is under test
    xml = receiving_xml("FV/9/2026")
    responses.get("http://ksef.invalid/v2/invoices/ksef/KSEF-1", body=xml + b"<!-- changed -->",
                  headers={"x-ms-meta-hash": crypto.sha256_b64(xml)}, content_type="application/xml")
    with pytest.raises(errors.KsefHashMismatch, match="x-ms-meta-hash"):
        receiving.download_invoice(client, "KSEF-1")


# -- the export ------------------------------------------------------------------------------------------------

def _export(sim, client, filters) -> tuple[exports.ExportStatus, exports.Package, crypto.SessionKey]:
    key = crypto.new_session_key()
    reference = exports.start_export(client, filters, key)
    assert exports.export_status(client, reference).is_pending
    sim.clock.advance(5)
    status = exports.export_status(client, reference)
    assert status.code == exports.READY, status
    parts = [(part, exports.download_part(client, part)) for part in status.package.parts]
    return status, exports.open_package(key, parts), key


def test_an_export_in_several_parts_holds_every_invoice_and_its_metadata():
    with running_simulator(export_part_bytes=700) as sim, requests.Session() as http:
        sent = {}
        for n in range(1, 5):
            sent[deliver(sim, receiving_xml(f"FV/{n}/2026"))["ksefNumber"]] = receiving_xml(f"FV/{n}/2026")
            sim.clock.advance(1)
        sim.clock.advance(60)
        client = sim.client(sim.create_token(OTHER_NIP, ["InvoiceRead"]), http, nip=OTHER_NIP)
        start = sim.clock() - timedelta(days=1)
        status, package, _ = _export(sim, client, {
            "subjectType": receiving.BUYER,
            "dateRange": receiving.date_range(receiving.PERMANENT_STORAGE, start, restrict_to_hwm=True)})
        assert len(status.package.parts) > 1 and not status.package.is_truncated
        assert status.package.permanent_storage_hwm is not None
        assert [m["ksefNumber"] for m in package.invoices] == list(sent)   # ascending by the date type
        assert package.files == sent                                         # the exact bytes
        assert all(m["invoiceHash"] == crypto.sha256_b64(sent[m["ksefNumber"]]) for m in package.invoices)


def test_a_truncated_export_names_its_last_permanent_storage_date():
    with running_simulator(result_cap=2) as sim, requests.Session() as http:
        for n in range(1, 4):
            deliver(sim, receiving_xml(f"FV/{n}/2026"))
            sim.clock.advance(1)
        sim.clock.advance(60)
        client = sim.client(sim.create_token(OTHER_NIP, ["InvoiceRead"]), http, nip=OTHER_NIP)
        status, package, _ = _export(sim, client, {
            "subjectType": receiving.BUYER,
            "dateRange": receiving.date_range(receiving.PERMANENT_STORAGE, sim.clock() - timedelta(days=1),
                                              restrict_to_hwm=True)})
        assert status.package.is_truncated and len(package.invoices) == 2
        last = package.invoices[-1]["permanentStorageDate"]
        assert status.package.last_permanent_storage == receiving.parse_datetime(last)


def test_a_part_that_does_not_decrypt_is_refused_without_showing_the_link():
    with running_simulator() as sim, requests.Session() as http:
        deliver(sim, receiving_xml("FV/1/2026"))
        sim.clock.advance(60)
        client = sim.client(sim.create_token(OTHER_NIP, ["InvoiceRead"]), http, nip=OTHER_NIP)
        status, _, _ = _export(sim, client, {
            "subjectType": receiving.BUYER,
            "dateRange": receiving.date_range(receiving.PERMANENT_STORAGE, sim.clock() - timedelta(days=1))})
        [part] = status.package.parts
        data = exports.download_part(client, part)
        with pytest.raises(errors.KsefHashMismatch) as wrong:
            exports.open_package(crypto.new_session_key(), [(part, data)])
        assert part.url not in str(wrong.value) and "sig=" not in repr(part)
        expired = exports.ExportPart(part.ordinal, part.url.replace("sig=", "sig=x"), part.part_hash,
                                     part.encrypted_hash)
        with pytest.raises(errors.KsefError) as refused:
            exports.download_part(client, expired)
        assert "sig=" not in str(refused.value) and refused.value.__cause__ is None
