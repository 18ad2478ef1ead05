"""End to end over real HTTP: our client against the simulator on 127.0.0.1 (port 0, in a thread)."""
from __future__ import annotations

import pytest
from lxml import etree

from ksef_local.ksef import errors, messages
from ksef_local.ksef.ksef_number import is_valid_ksef_number
from tests.ksef_support import SELLER_NIP, START, contract_session, invoice_xml, running_simulator

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


def _accepted(client, session, xml):
    sent = client.send_invoice(session, xml)
    return sent, client.wait_for_invoice(session.reference_number, sent.reference_number)


def test_revoked_token_fails_authentication_with_token_revoked(simulator):
    token = simulator.create_token()
    simulator.revoke_token(token)
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        with pytest.raises(errors.KsefTokenRevoked) as caught:
            client.authenticate()
    assert caught.value.code == 450 and "Token unieważniony" in caught.value.details
    assert messages.user_message(caught.value).title == "Token unieważniony"


def test_token_revoked_after_login_refuses_refresh_with_21301(simulator):
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        client.authenticate()
        simulator.revoke_token(token)
        with pytest.raises(errors.KsefTokenRevoked) as caught:
            client.auth.refresh()
    assert caught.value.code == 21301


def test_wrong_nip_for_token_is_unauthenticated(simulator):
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http, nip="7342867148")
        with pytest.raises(errors.KsefUnauthenticated) as caught:
            client.authenticate()
    assert caught.value.code == 450


def test_token_without_invoice_write_gets_403_brak_autoryzacji(simulator):
    token = simulator.create_token(permissions=["InvoiceRead"])
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        with pytest.raises(errors.KsefUnauthorized) as caught:
            client.open_online_session()
    assert caught.value.http_status == 403 and caught.value.reason_code == "missing-permissions"
    assert messages.user_message(caught.value).title == "Brak autoryzacji"


def test_rate_limit_answers_429_with_retry_after_and_passes_after_waiting():
    with running_simulator(limits="prod") as sim:
        token = sim.create_token()
        with contract_session() as (http, _):
            client = sim.client(token, http)
            sessions = [client.open_online_session() for _ in range(10)]  # 10 per second allowed
            with pytest.raises(errors.KsefRateLimited) as caught:
                client.open_online_session()
            assert caught.value.retry_after == 1
            assert "Spróbuj ponownie za 1 s" in messages.user_message(caught.value).advice
            sim.clock.advance(caught.value.retry_after)
            assert client.open_online_session().reference_number not in {s.reference_number for s in sessions}


def test_rate_limit_minute_window_gives_longer_retry_after():
    with running_simulator(limits="prod") as sim:
        token = sim.create_token()
        with contract_session() as (http, _):
            client = sim.client(token, http)
            for _ in range(30):  # onlineSession: 30 per minute, spread to stay under 10 per second
                client.open_online_session()
                sim.clock.advance(0.2)
            with pytest.raises(errors.KsefRateLimited) as caught:
                client.open_online_session()
    assert 50 <= caught.value.retry_after <= 60


def test_expired_access_token_is_refreshed_before_the_call(simulator):
    token = simulator.create_token()
    with contract_session() as (http, contract):
        client = simulator.client(token, http)
        session = client.open_online_session()
        first_access = client.auth.tokens.access
        simulator.clock.advance(16 * 60)  # access tokens live 15 min
        client.session_status(session.reference_number)
        assert client.auth.tokens.access.valid_until > first_access.valid_until
    paths = [p.path_url for p, _ in contract.exchanges]
    assert paths.count("/v2/auth/token/refresh") == 1 and paths.count("/v2/auth/token/redeem") == 1


def test_access_token_refused_with_401_is_refreshed_once(simulator):
    token = simulator.create_token()
    lagging = lambda: simulator.clock() - __import__("datetime").timedelta(minutes=20)  # noqa: E731
    with contract_session() as (http, contract):
        client = simulator.client(token, http)
        session = client.open_online_session()
        client.auth._clock = lagging  # the client's clock is 20 min late: it believes the token still valid
        simulator.clock.advance(16 * 60)
        status = client.session_status(session.reference_number)
    assert status.code == 100
    codes = [(p.path_url, r.status_code) for p, r in contract.exchanges]
    assert (f"/v2/sessions/{session.reference_number}", 401) in codes
    assert codes[-1] == (f"/v2/sessions/{session.reference_number}", 200)
    assert [c for c in codes if c[0] == "/v2/auth/token/refresh"] == [("/v2/auth/token/refresh", 200)]


def test_duplicate_invoice_number_is_refused_with_440_and_the_original(simulator):
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        first_session = client.open_online_session()
        _, original = _accepted(client, first_session, invoice_xml("FV/7/2026"))
        second_session = client.open_online_session()
        _, duplicate = _accepted(client, second_session, invoice_xml("FV/7/2026", buyer_nip="1111111111"))
    assert duplicate.code == 440
    error = duplicate.rejection()
    assert isinstance(error, errors.KsefDuplicateInvoice)
    assert error.original_ksef_number == original.ksef_number
    assert error.original_session == first_session.reference_number
    message = messages.user_message(error)
    assert original.ksef_number in message.advice and "Nie wysyłaj jej ponownie" in message.advice
    assert simulator.state()["nips"][SELLER_NIP]["duplicatesRefused"] == 1


def test_xsd_invalid_invoice_is_rejected_with_430_and_validator_details(simulator):
    token = simulator.create_token()
    broken = invoice_xml("FV/8/2026").replace(b"<P_13_1>100.00</P_13_1>", b"<P_13_1>100.001</P_13_1>")
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        _, status = _accepted(client, session, broken)
    assert status.code == 430 and status.description == "Błąd weryfikacji pliku faktury"
    assert status.details and any("P_13_1" in d or "Kwota" in d or "netto" in d.lower() for d in status.details)
    assert messages.user_message(status.rejection()).title == "Faktura odrzucona przez KSeF"


def test_issue_date_in_future_is_450_and_past_date_is_classified_offline(simulator):
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        _, future = _accepted(client, session, invoice_xml("FV/9/2026", issue_date=START.date().replace(day=3)))
        _, past = _accepted(client, session, invoice_xml("FV/10/2026", issue_date=START.date().replace(day=1)))
    assert future.code == 450 and "P_1" in future.details[0]
    assert (past.code, past.invoicing_mode) == (200, "Offline")


def test_session_with_only_rejected_invoices_ends_445_and_empty_one_440(simulator):
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        bad = client.open_online_session()
        _accepted(client, bad, b"<not-xml")
        client.close_online_session(bad.reference_number)
        empty = client.open_online_session()
        client.close_online_session(empty.reference_number)
        assert client.wait_for_session(bad.reference_number).code == 445
        assert client.wait_for_session(empty.reference_number).code == 440
        with pytest.raises(errors.KsefNoSession) as caught:
            client.send_invoice(bad, invoice_xml("FV/11/2026"))
    assert caught.value.code == 21180


def test_lost_answer_is_reconciled_by_invoice_hash(simulator):
    token = simulator.create_token()
    xml = invoice_xml("FV/12/2026")
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        simulator.faults(fault="drop", count=1, afterProcessing=True, pathPrefix="/v2/sessions/online/")
        with pytest.raises(errors.KsefUnavailable):
            client.send_invoice(session, xml)
        from ksef_local.ksef.crypto import sha256_b64

        found = client.find_invoice_by_hash(session.reference_number, sha256_b64(xml))
    assert found is not None and found.code in (100, 150, 200)


def test_gateway_html_502_and_timeout_are_unavailable_with_latarnia_status(simulator):
    from ksef_local.ksef.latarnia import LatarniaClient

    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http, timeout=0.5)
        client.authenticate()
        simulator.faults(fault="502", count=1, latarnia={"status": "FAILURE", "title": "Awaria KSeF"})
        with pytest.raises(errors.KsefUnavailable) as gateway:
            client.open_online_session()
        simulator.faults(fault="timeout", count=1, timeoutSeconds=30)
        with pytest.raises(errors.KsefUnavailable) as timeout:
            client.open_online_session()
        latarnia = LatarniaClient(f"{simulator.base_url}", session=http).status()
    assert gateway.value.http_status == 502 and timeout.value.http_status is None
    assert latarnia.status == "FAILURE" and latarnia.messages[0].title == "Awaria KSeF"
    message = messages.user_message(gateway.value, latarnia.status)
    assert message.title == "Serwis KSeF nie odpowiada" and "ogłoszono awarię" in message.advice


def test_batch_session_of_fifty_invoices(simulator):
    from ksef_local.ksef import batch

    token = simulator.create_token()
    files = {f"faktura-{n:02d}.xml": invoice_xml(f"FB/{n}/2026") for n in range(1, 51)}
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        reference, prepared = batch.send_batch(client, files, part_size=4000)
        results = batch.batch_results(client, reference, prepared)
        status = client.session_status(reference)
    assert len(prepared.parts) > 1
    assert sorted(results) == sorted(files)
    assert {r.code for r in results.values()} == {200}
    assert status.code == 200 and status.successful_invoice_count == 50 and status.upo_pages
    accepted = simulator.state()["nips"][SELLER_NIP]["accepted"]
    assert len(accepted) == 50


def test_qr_verification_page_finds_accepted_invoice(simulator):
    from ksef_local.ksef.crypto import invoice_verification_url

    token = simulator.create_token()
    xml = invoice_xml("FV/13/2026")
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        _accepted(client, client.open_online_session(), xml)
        found = http.get(invoice_verification_url(simulator.base_url, SELLER_NIP, START.date(), xml), timeout=10)
        missing = http.get(invoice_verification_url(simulator.base_url, SELLER_NIP, START.date(), xml + b" "),
                           timeout=10)
    assert found.status_code == 200 and "Faktura znajduje się w KSeF" in found.text
    assert missing.status_code == 200 and "Faktura nie została znaleziona w KSeF" in missing.text


def test_state_file_survives_a_restart(tmp_path):
    state = str(tmp_path / "sim.sqlite")
    with running_simulator(state_file=state) as sim:
        token = sim.create_token()
        with contract_session() as (http, _):
            client = sim.client(token, http)
            _, first = _accepted(client, client.open_online_session(), invoice_xml("FV/14/2026"))
    with running_simulator(state_file=state) as sim:
        with contract_session() as (http, _):
            client = sim.client(token, http)
            _, again = _accepted(client, client.open_online_session(), invoice_xml("FV/14/2026"))
        report = sim.state()
    assert first.code == 200 and again.code == 440
    assert again.rejection().original_ksef_number == first.ksef_number
    assert report["nips"][SELLER_NIP]["accepted"][0]["ksefNumber"] == first.ksef_number


def test_debug_log_of_a_whole_flow_holds_no_secret(simulator, caplog):
    token = simulator.create_token()
    caplog.set_level("DEBUG", logger="ksef_local.ksef")
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        client.send_invoice(session, invoice_xml("LOG/1/2026"))
    text = caplog.text
    assert "/v2/sessions/online" in text and "***" in text
    for secret in (token, client.auth.tokens.access.token, client.auth.tokens.refresh.token):
        assert secret not in text
    assert token.split("|")[2] not in text
