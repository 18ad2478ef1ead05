"""End to end over real HTTP: our client against the simulator on 127.0.0.1 (port 0, in a thread)."""
from __future__ import annotations

import pytest
from lxml import etree

from ksef_local.ksef import errors
from ksef_local.ksef.ksef_number import is_valid_ksef_number
from tests.ksef_support import SELLER_NIP, START, contract_session, invoice_xml, running_simulator, simulator  # noqa: F401

UPO_NS = "{http://upo.schematy.mf.gov.pl/KSeF/v4-3}"


def test_online_session_three_invoices_statuses_close_and_upo(simulator):
    token = simulator.create_token()
    with contract_session() as (http, contract):
        client = simulator.client(token, http)
        session = client.open_online_session()
        sent = [client.send_invoice(session, invoice_xml(f"FV/{n}/2026")) for n in (1, 2, 3)]
        first = client.invoice_status(session.reference_number, sent[0].reference_number)
        assert first.code == 100 and not first.is_final
        finals = [client.wait_for_invoice(session.reference_number, s.reference_number) for s in sent]
        assert [f.code for f in finals] == [200, 200, 200]
        assert all(is_valid_ksef_number(f.ksef_number) and f.ksef_number.startswith(f"{SELLER_NIP}-20260302-")
                   for f in finals)
        assert [f.invoicing_mode for f in finals] == ["Online"] * 3
        assert [f.invoice_hash for f in finals] == [s.invoice_hash for s in sent]
        client.close_online_session(session.reference_number)
        assert client.session_status(session.reference_number).code == 170
        status = client.wait_for_session(session.reference_number)
        assert (status.code, status.invoice_count, status.successful_invoice_count, status.failed_invoice_count) == \
            (200, 3, 3, None)
        session_upo = client.session_upo(session.reference_number, status.upo_pages[0].reference_number)
        root = etree.fromstring(session_upo.xml)
        numbers = [e.text for e in root.iter(f"{UPO_NS}NumerKSeFDokumentu")]
        assert numbers == [f.ksef_number for f in finals]
        invoice_upo = client.invoice_upo(session.reference_number, sent[1].reference_number)
        assert etree.fromstring(invoice_upo.xml).findtext(f"{UPO_NS}Dokument/{UPO_NS}NumerFaktury") == "FV/2/2026"
        by_number = client.invoice_upo_by_ksef_number(session.reference_number, finals[1].ksef_number)
        assert by_number.xml == invoice_upo.xml
        presigned = client.download_presigned(finals[2].upo_download_url)
        assert b"FV/3/2026" in presigned.xml and presigned.sha256 is not None
    assert contract.validated_count() > 15
