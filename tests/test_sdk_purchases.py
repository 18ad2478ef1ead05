"""Proof by a third party: the PyPI SDK ksef-client sends an FA(3) invoice as one company to another through
our simulator; as the buyer, our own client finds it by a Subject2 metadata query and downloads the very bytes
the SDK sent. The SDK polls with time.sleep: the simulator runs on the real clock
with no processing delay."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from ksef_local.clock import utc_now
from ksef_local.ksef import crypto, receiving
from ksef_local.ksef.auth import TokenCredentials
from ksef_local.ksef.client import KsefClient as OurClient
from ksef_local.ksef.environments import custom
from tests.ksef_support import OTHER_NIP, SELLER_NIP, invoice_xml, running_simulator

pytest.importorskip("ksef_client", reason="the PyPI SDK ksef-client is a test dependency")

from ksef_client import KsefClient, KsefClientOptions  # noqa: E402
from ksef_client.openapi_models import FormCode  # noqa: E402
from ksef_client.services.workflows import AuthCoordinator, OnlineSessionWorkflow  # noqa: E402

from tests.test_sdk_interop import _symmetric_key, _token_key  # noqa: E402


def test_an_invoice_the_sdk_sends_is_found_and_downloaded_byte_for_byte_by_the_buyer():
    with running_simulator(clock=utc_now, processing_ms=0) as sim:
        sdk = KsefClient(KsefClientOptions(base_url=sim.base_url, base_qr_url=sim.base_url,
                                           base_lighthouse_url=f"{sim.base_url}/latarnia"))
        access = AuthCoordinator(sdk.auth).authenticate_with_ksef_token(
            token=sim.create_token(SELLER_NIP), public_certificate=_token_key(sdk), context_identifier_type="Nip",
            context_identifier_value=SELLER_NIP, poll_interval_seconds=0, max_attempts=3).access_token
        started = utc_now() - timedelta(minutes=1)
        session = OnlineSessionWorkflow(sdk.sessions).open_session(
            form_code=FormCode(system_code="FA (3)", schema_version="1-0E", value="FA"),
            public_certificate=_symmetric_key(sdk), access_token=access)
        xml = invoice_xml("SDK/ZAKUP/1/2026", seller_nip=SELLER_NIP, buyer_nip=OTHER_NIP)
        sent = session.send_invoice(xml)
        status = sdk.sessions.get_session_invoice_status(session.reference_number, sent.reference_number,
                                                         access_token=access)
        assert status.status.code == 200, status
        sdk.close()

        with requests.Session() as http:
            token = sim.create_token(OTHER_NIP, ["InvoiceRead"])
            buyer = OurClient(custom(sim.base_url), TokenCredentials(OTHER_NIP, token), session=http,
                              poll_interval=0.05)
            page = receiving.query_metadata(buyer, {
                "subjectType": receiving.BUYER,
                "dateRange": receiving.date_range(receiving.PERMANENT_STORAGE, started, restrict_to_hwm=True)})
            [found] = page.invoices
            assert (found.ksef_number, found.invoice_number, found.seller_nip) == (
                status.ksef_number, "SDK/ZAKUP/1/2026", SELLER_NIP)
            assert found.invoice_hash == crypto.sha256_b64(xml)
            assert receiving.download_invoice(buyer, found.ksef_number) == xml
