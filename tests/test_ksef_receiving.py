"""ksef/receiving.py against the simulator over real HTTP: the metadata query as the seller and the buyer."""
from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from decimal import Decimal

import requests

from ksef_local.ksef import receiving
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
