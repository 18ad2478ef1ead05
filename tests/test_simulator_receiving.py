"""The simulator's receiving side: the index, POST /invoices/query/metadata and GET /invoices/ksef/{ksefNumber},
over real HTTP on 127.0.0.1 with a fake clock, checked against the official OpenAPI where it is present."""
from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest

from ksef_local.ksef.limits import PRD_LIMITS
from ksef_local.simulator.limits import group_of
from tests.ksef_support import (
    OPENAPI_PATH,
    OTHER_NIP,
    SELLER_NIP,
    START,
    START_DAY,
    contract_session,
    deliver,
    reader,
    receiving_xml,
    running_simulator,
)

THIRD_NIP = "3812098344"
AUTHORIZED_NIP = "2540183778"
STRANGER_NIP = "9513271068"
FROM = "2026-03-01T00:00:00Z"
FEBRUARY = "2026-02-01T00:00:00Z"


def query(sim, http, headers, body, **params):
    return http.post(f"{sim.base_url}/v2/invoices/query/metadata", headers=headers, json=body, params=params)


def filters(subject="Subject2", date_type="PermanentStorage", start=FROM, end=None, restrict=None, **others):
    date_range = {"dateType": date_type, "from": start} | ({"to": end} if end else {}) | \
        ({"restrictToPermanentStorageHwmDate": restrict} if restrict is not None else {})
    return {"subjectType": subject, "dateRange": date_range} | others


def numbers(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["invoiceNumber"] for item in response.json()["invoices"]]


def exception_code(response) -> int:
    assert response.status_code == 400, response.text
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def test_receiving_index_finds_an_invoice_by_seller_buyer_third_party_and_authorized_subject(simulator):
    xml = receiving_xml("ZAK/1/2026", third=((f"<NIP>{THIRD_NIP}</NIP>", "4"),
                                             (f"<IDWew>{THIRD_NIP}-00001</IDWew>", "2")),
                        authorized_nip=AUTHORIZED_NIP)
    ksef_number = deliver(simulator, xml)["ksefNumber"]
    simulator.clock.advance(2)
    roles = {SELLER_NIP: "Subject1", OTHER_NIP: "Subject2", THIRD_NIP: "Subject3", AUTHORIZED_NIP: "SubjectAuthorized"}
    seen = {}
    with contract_session() as (http, _):
        for nip in (*roles, STRANGER_NIP):
            headers = reader(simulator, nip)
            seen[nip] = {subject: numbers(query(simulator, http, headers, filters(subject)))
                         for subject in ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")}
        metadata = query(simulator, http, reader(simulator), filters()).json()["invoices"][0]
    for nip, subject in roles.items():
        assert seen[nip] == {s: (["ZAK/1/2026"] if s == subject else []) for s in seen[nip]}
    assert all(found == [] for found in seen[STRANGER_NIP].values())
    assert metadata["ksefNumber"] == ksef_number
    assert metadata["seller"] == {"nip": SELLER_NIP, "name": f"Dostawca {SELLER_NIP}"}
    assert metadata["buyer"] == {"identifier": {"type": "Nip", "value": OTHER_NIP}, "name": "Odbiorca"}
    assert metadata["thirdSubjects"] == [
        {"identifier": {"type": "Nip", "value": THIRD_NIP}, "name": "Podmiot trzeci 1", "role": 4},
        {"identifier": {"type": "InternalId", "value": f"{THIRD_NIP}-00001"}, "name": "Podmiot trzeci 2", "role": 2}]
    assert metadata["authorizedSubject"] == {"nip": AUTHORIZED_NIP, "name": "Komornik", "role": 2}
    assert (metadata["netAmount"], metadata["vatAmount"], metadata["grossAmount"]) == (100.0, 23.0, 123.0)
    assert metadata["invoiceHash"] == base64.b64encode(hashlib.sha256(xml).digest()).decode()
    assert metadata["formCode"] == {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}


def test_receiving_invoices_sent_in_online_and_batch_sessions_are_indexed(simulator):
    from ksef_local.ksef import batch

    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        sent = client.send_invoice(session, receiving_xml("ONLINE/1"))
        client.wait_for_invoice(session.reference_number, sent.reference_number)
        status = http.get(f"{simulator.base_url}/v2/sessions/{session.reference_number}/invoices/"
                          f"{sent.reference_number}", headers={"Authorization": f"Bearer {client.auth.access_token()}"})
        reference, prepared = batch.send_batch(client, {"b1.xml": receiving_xml("BATCH/1"),
                                                        "b2.xml": receiving_xml("BATCH/2")})
        assert {r.code for r in batch.batch_results(client, reference, prepared).values()} == {200}
        simulator.clock.advance(2)
        stored = http.get(status.request.url, headers=status.request.headers).json()
        found = query(simulator, http, reader(simulator), filters()).json()["invoices"]
    assert "permanentStorageDate" not in status.json()  # OpenAPI: "może być jeszcze niedostępna"
    assert stored["permanentStorageDate"] > stored["acquisitionDate"]
    assert sorted(item["invoiceNumber"] for item in found) == ["BATCH/1", "BATCH/2", "ONLINE/1"]
    online = next(item for item in found if item["invoiceNumber"] == "ONLINE/1")
    assert (online["ksefNumber"], online["invoicingDate"], online["acquisitionDate"],
            online["permanentStorageDate"]) == (stored["ksefNumber"], stored["invoicingDate"],
                                                stored["acquisitionDate"], stored["permanentStorageDate"])


def test_receiving_technical_correction_names_the_corrected_invoice(simulator):
    original = base64.b64encode(hashlib.sha256(b"the offline invoice first sent").digest()).decode()
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        sent = client.send_invoice(session, receiving_xml("TECH/1", issue_date=START_DAY - timedelta(days=1)),
                                   offline_mode=True, hash_of_corrected_invoice=original)
        client.wait_for_invoice(session.reference_number, sent.reference_number)
        client.wait_for_invoice(session.reference_number, client.send_invoice(session, receiving_xml("PLAIN/1"))
                                .reference_number)
        simulator.clock.advance(2)
        found = {i["invoiceNumber"]: i for i in query(simulator, http, reader(simulator), filters()).json()["invoices"]}
    assert found["TECH/1"]["hashOfCorrectedInvoice"] == original and found["TECH/1"]["invoicingMode"] == "Offline"
    assert "hashOfCorrectedInvoice" not in found["PLAIN/1"]


@pytest.fixture
def assorted(simulator):
    """Five purchase invoices to OTHER_NIP that differ in one filterable property each."""
    deliver(simulator, receiving_xml("A/PLN"))
    deliver(simulator, receiving_xml("B/EUR", seller_nip=THIRD_NIP, currency="EUR", net="1000.00", vat="230.00",
                                     vat_pln="980.10"))
    deliver(simulator, receiving_xml("C/UPR", kind="UPR", self_invoicing=True, attachment=True, net="10.00",
                                     vat="2.30"))
    deliver(simulator, receiving_xml("D/ZAL", kind="ZAL", net="500.00", vat="115.00"))
    deliver(simulator, receiving_xml("E/OFF", issue_date=START_DAY - timedelta(days=1)))  # offline: P_1 earlier
    simulator.clock.advance(2)
    return simulator


@pytest.mark.parametrize(("extra", "expected"), [
    ({}, ["A/PLN", "B/EUR", "C/UPR", "D/ZAL", "E/OFF"]),
    ({"sellerNip": THIRD_NIP}, ["B/EUR"]),
    ({"invoiceNumber": "C/UPR"}, ["C/UPR"]),
    ({"currencyCodes": ["EUR", "USD"]}, ["B/EUR"]),
    ({"invoicingMode": "Offline"}, ["E/OFF"]),
    ({"invoiceTypes": ["Upr", "Zal"]}, ["C/UPR", "D/ZAL"]),
    ({"formType": "FA"}, ["A/PLN", "B/EUR", "C/UPR", "D/ZAL", "E/OFF"]),
    ({"formType": "PEF"}, []),
    ({"hasAttachment": True}, ["C/UPR"]),
    ({"isSelfInvoicing": True}, ["C/UPR"]),
    ({"amount": {"type": "Brutto", "from": 100, "to": 700}}, ["A/PLN", "D/ZAL", "E/OFF"]),
    ({"amount": {"type": "Netto", "from": 1000}}, ["B/EUR"]),
    ({"amount": {"type": "Vat", "to": 50}}, ["A/PLN", "C/UPR", "E/OFF"]),
    ({"amount": {"type": "Vat", "from": 900}}, ["B/EUR"]),  # VAT in PLN: P_14_1W
    ({"buyerIdentifier": {"type": "Nip", "value": OTHER_NIP}}, ["A/PLN", "B/EUR", "C/UPR", "D/ZAL", "E/OFF"]),
])
def test_receiving_query_filters(assorted, extra, expected):
    with contract_session() as (http, _):
        found = numbers(query(assorted, http, reader(assorted), filters(**extra), pageSize=250))
    assert sorted(found) == expected


def test_receiving_query_by_ksef_number_and_the_sellers_view_of_buyer_identifiers(simulator):
    first = deliver(simulator, receiving_xml("ID/NIP"))
    deliver(simulator, receiving_xml("ID/UE", buyer_id="<KodUE>DE</KodUE><NrVatUE>811907980</NrVatUE>"))
    deliver(simulator, receiving_xml("ID/OTHER", buyer_id="<KodKraju>US</KodKraju><NrID>12-3456789</NrID>"))
    deliver(simulator, receiving_xml("ID/NONE", buyer_id="<BrakID>1</BrakID>"))
    simulator.clock.advance(2)
    with contract_session() as (http, _):
        seller = reader(simulator, SELLER_NIP)
        by_number = numbers(query(simulator, http, seller, filters("Subject1", ksefNumber=first["ksefNumber"])))
        by_buyer = {kind: numbers(query(simulator, http, seller, filters("Subject1", buyerIdentifier=ident)))
                    for kind, ident in (("VatUe", {"type": "VatUe", "value": "DE811907980"}),
                                        ("Other", {"type": "Other", "value": "12-3456789"}),
                                        ("None", {"type": "None"}), ("AnyUe", {"type": "VatUe"}))}
    assert by_number == ["ID/NIP"]
    assert by_buyer == {"VatUe": ["ID/UE"], "Other": ["ID/OTHER"], "None": ["ID/NONE"], "AnyUe": ["ID/UE"]}


@pytest.mark.parametrize(("body", "params"), [
    (filters("Subject5"), {}),
    (filters(date_type="Acquisition"), {}),
    ({"subjectType": "Subject2", "dateRange": {"dateType": "Issue"}}, {}),
    (filters(start="2026-13-01T00:00:00Z"), {}),
    (filters(currencyCodes=["ABC"]), {}),
    (filters(invoiceTypes=["Faktura"]), {}),
    (filters(formType="XML"), {}),
    (filters(invoicingMode="Sometimes"), {}),
    (filters(amount={"type": "Gross", "from": 1}), {}),
    (filters(amount={"from": 1}), {}),
    (filters(sellerNip="123"), {}),
    (filters(ksefNumber="5265877635-2026"), {}),
    (filters(buyerIdentifier={"type": "Pesel", "value": "1"}), {}),
    (filters(hasAttachment="yes"), {}),
    (filters(), {"pageSize": 5}),
    (filters(), {"pageSize": 251}),
    (filters(), {"pageOffset": -1}),
    (filters(), {"sortOrder": "Up"}),
])
def test_receiving_query_refuses_invalid_filters_with_21405(simulator, body, params):
    with contract_session(check_requests=False) as (http, _):
        assert exception_code(query(simulator, http, reader(simulator), body, **params)) == 21405


@pytest.mark.parametrize(("start", "end", "accepted"), [
    ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", True),       # exactly three months
    ("2026-01-01T00:00:00Z", "2026-04-01T00:00:01Z", False),
    ("2026-02-28T23:30:00Z", "2026-05-30T12:00:00Z", True),       # over three months in UTC, not in Warsaw time
    ("2026-03-01T00:00:00", "2026-06-01T00:00:00", True),          # no offset: Europe/Warsaw
    ("2026-03-01T00:00:00", "2026-06-01T00:00:01", False),
    ("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z", False),       # from after to
    ("2025-11-30T00:00:00Z", None, False),                          # no "to": until now, more than three months
])
def test_receiving_date_range_is_limited_to_three_months(simulator, start, end, accepted):
    with contract_session(check_requests=False) as (http, _):  # KSeF takes times without offset, the spec does not
        response = query(simulator, http, reader(simulator), filters(start=start, end=end))
    assert response.status_code == 200 if accepted else exception_code(response) == 21405


def test_receiving_date_types_issue_invoicing_and_permanent_storage(simulator):
    earlier = START - timedelta(days=1)
    deliver(simulator, receiving_xml("OLD/1", issue_date=START_DAY - timedelta(days=5)), acceptedAt=earlier.isoformat())
    deliver(simulator, receiving_xml("NEW/1"))
    simulator.clock.advance(2)

    def around(moment, seconds=0.5):
        return (moment - timedelta(seconds=seconds)).isoformat(), (moment + timedelta(seconds=seconds)).isoformat()

    with contract_session() as (http, _):
        headers = reader(simulator)
        issue = query(simulator, http, headers, filters(date_type="Issue", start="2026-02-25T00:00:00+01:00",
                                                        end="2026-02-25T23:59:59+01:00")).json()
        invoicing = numbers(query(simulator, http, headers, filters(date_type="Invoicing", start=around(earlier)[0],
                                                                    end=around(earlier)[1])))
        storage = numbers(query(simulator, http, headers, filters(start=around(earlier + timedelta(seconds=1))[0],
                                                                  end=around(earlier + timedelta(seconds=1))[1])))
        by_issue = {order: numbers(query(simulator, http, headers, filters(date_type="Issue", start=FEBRUARY),
                                         sortOrder=order)) for order in ("Asc", "Desc")}
        marks = {kind: query(simulator, http, headers, filters(date_type=kind, start=FEBRUARY))
                 .json()["permanentStorageHwmDate"] for kind in ("Issue", "Invoicing", "PermanentStorage")}
    assert [item["invoiceNumber"] for item in issue["invoices"]] == ["OLD/1"]
    assert issue["invoices"][0]["invoicingMode"] == "Offline"
    assert invoicing == storage == ["OLD/1"]
    assert by_issue == {"Asc": ["OLD/1", "NEW/1"], "Desc": ["NEW/1", "OLD/1"]}
    assert marks["Issue"] is None and marks["Invoicing"] is None and marks["PermanentStorage"]


def test_receiving_pages_and_sort_order(simulator):
    made = simulator.http.post(f"{simulator.base_url}/sim/invoices/bulk", json={
        "count": 25, "buyerNip": OTHER_NIP, "from": "2026-03-01T00:00:00Z", "to": START.isoformat()}).json()
    simulator.clock.advance(2)
    with contract_session() as (http, _):
        headers = reader(simulator)
        pages = [query(simulator, http, headers, filters(), pageSize=10, pageOffset=n).json() for n in range(3)]
        backwards = query(simulator, http, headers, filters(), pageSize=25, sortOrder="Desc").json()["invoices"]
    assert [len(p["invoices"]) for p in pages] == [10, 10, 5]
    assert [p["hasMore"] for p in pages] == [True, True, False]
    assert not any(p["isTruncated"] for p in pages)
    forwards = [item for p in pages for item in p["invoices"]]
    assert [item["ksefNumber"] for item in forwards] == made["ksefNumbers"]  # accepted in this order
    stored = [item["permanentStorageDate"] for item in forwards]
    assert stored == sorted(stored) and len(set(stored)) == 25
    assert backwards == forwards[::-1]


def test_receiving_is_truncated_at_the_cap_and_narrowing_from_the_last_date_resumes():
    with running_simulator(result_cap=20) as sim:
        sim.http.post(f"{sim.base_url}/sim/invoices/bulk", json={"count": 25, "buyerNip": OTHER_NIP,
                                                                 "from": FROM, "to": START.isoformat()})
        sim.clock.advance(2)
        with contract_session(check_requests=False) as (http, _):
            headers = reader(sim)
            first, second = (query(sim, http, headers, filters(), pageSize=10, pageOffset=n).json() for n in (0, 1))
            beyond = query(sim, http, headers, filters(), pageSize=10, pageOffset=2)
            last = second["invoices"][-1]["permanentStorageDate"]
            rest = query(sim, http, headers, filters(start=last), pageSize=10).json()
    assert (first["hasMore"], first["isTruncated"]) == (True, False)
    assert (second["hasMore"], second["isTruncated"]) == (True, True)  # OpenAPI: narrow dateRange now
    assert exception_code(beyond) == 21405
    assert (rest["hasMore"], rest["isTruncated"], len(rest["invoices"])) == (False, False, 6)  # 5 new + the boundary
    seen = {i["ksefNumber"] for p in (first, second, rest) for i in p["invoices"]}
    assert len(seen) == 25


def test_receiving_high_water_mark_and_permanent_storage_over_time(simulator):
    headers = reader(simulator)  # logging in moves the fake clock: first
    accepted = deliver(simulator, receiving_xml("HWM/1"))
    stored_at = accepted["permanentStorageDate"]
    moment = simulator.clock()
    assert accepted["acquisitionDate"] == moment.isoformat(timespec="milliseconds")
    assert stored_at == (moment + timedelta(seconds=1)).isoformat(timespec="milliseconds")

    def look(http, **kwargs):
        return query(simulator, http, headers, filters(**kwargs)).json()

    with contract_session(check_requests=False) as (http, _):
        simulator.clock.advance(0.5)  # accepted, not yet stored
        before = look(http)
        by_invoicing = numbers(query(simulator, http, headers, filters(date_type="Invoicing")))
        not_yet = http.get(f"{simulator.base_url}/v2/invoices/ksef/{accepted['ksefNumber']}", headers=headers)
        simulator.clock.advance(1)  # stored at +1 s; the mark trails the clock by the storage delay
        unrestricted, restricted = look(http), look(http, restrict=True)
        simulator.clock.advance(1)
        later = look(http, restrict=True)
        too_late = query(simulator, http, headers, filters(start=(moment + timedelta(seconds=2)).isoformat(),
                                                           restrict=True))
        older = look(http, end="2026-03-01T12:00:00Z")
    assert before["invoices"] == [] and by_invoicing == []
    assert before["permanentStorageHwmDate"] < stored_at
    assert exception_code(not_yet) == 21165
    assert [i["invoiceNumber"] for i in unrestricted["invoices"]] == ["HWM/1"]
    assert restricted["invoices"] == [] and restricted["permanentStorageHwmDate"] < stored_at
    assert [i["invoiceNumber"] for i in later["invoices"]] == ["HWM/1"]
    assert later["permanentStorageHwmDate"] >= stored_at
    assert exception_code(too_late) == 21183
    assert older["permanentStorageHwmDate"] == "2026-03-01T12:00:00.000+00:00"  # an older period: its own bound


def test_receiving_download_returns_the_bytes_sent_with_their_hash(simulator):
    xml = receiving_xml("DL/1").replace(b"<P_7>Towar</P_7>", "<P_7>Zażółć gęślą jaźń</P_7>".encode())
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        final = client.wait_for_invoice(session.reference_number, client.send_invoice(session, xml).reference_number)
        simulator.clock.advance(2)
        buyer, seller = reader(simulator), reader(simulator, SELLER_NIP)
        answers = [http.get(f"{simulator.base_url}/v2/invoices/ksef/{final.ksef_number}", headers=h)
                   for h in (buyer, seller)]
        listed = query(simulator, http, buyer, filters()).json()["invoices"][0]
    digest = base64.b64encode(hashlib.sha256(xml).digest()).decode()
    for answer in answers:
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/xml")
        assert answer.content == xml
        assert answer.headers["x-ms-meta-hash"] == digest == listed["invoiceHash"]


def test_receiving_access_refused_to_strangers_and_without_invoice_read(simulator):
    ksef_number = deliver(simulator, receiving_xml("SECRET/1"))["ksefNumber"]
    simulator.clock.advance(2)
    url = f"{simulator.base_url}/v2/invoices/ksef/{ksef_number}"
    with contract_session(check_requests=False) as (http, _):
        stranger = http.get(url, headers=reader(simulator, STRANGER_NIP))
        writer = reader(simulator, permissions=["InvoiceWrite"])
        no_read = [http.get(url, headers=writer), query(simulator, http, writer, filters())]
        unknown = http.get(f"{simulator.base_url}/v2/invoices/ksef/{SELLER_NIP}-20260302-0123456789AB-00",
                           headers=reader(simulator))
        malformed = http.get(f"{simulator.base_url}/v2/invoices/ksef/not-a-number", headers=reader(simulator))
        anonymous = http.get(url)
    assert stranger.status_code == 403 and stranger.json()["reasonCode"] == "insufficient-resource-access"
    assert [r.status_code for r in no_read] == [403, 403]
    assert all(r.json()["reasonCode"] == "missing-permissions" for r in no_read)
    assert exception_code(unknown) == 21164
    assert exception_code(malformed) == 21405
    assert anonymous.status_code == 401


@pytest.mark.parametrize(("method", "path", "group"), [
    ("POST", "/invoices/query/metadata", "invoiceMetadata"),
    ("GET", "/invoices/ksef/{ksefNumber}", "invoiceDownload"),
    ("POST", "/invoices/exports", "invoiceExport"),
    ("GET", "/invoices/exports/{referenceNumber}", "invoiceExportStatus"),
])
def test_receiving_rate_limit_groups_match_the_openapi(method, path, group):
    assert group_of(method, path.replace("{ksefNumber}", "X").replace("{referenceNumber}", "R")) == group
    if not OPENAPI_PATH.exists():
        pytest.skip(f"../shared is not here ({OPENAPI_PATH} missing): the x-rate-limits cannot be compared")
    import json

    declared = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))["paths"][path][method.lower()]["x-rate-limits"]
    assert PRD_LIMITS[group] == (declared["perSecond"], declared["perMinute"], declared["perHour"])


def test_receiving_read_limits_answer_429_with_retry_after():
    with running_simulator(limits="prod") as sim:
        ksef_number = deliver(sim, receiving_xml("LIM/1"))["ksefNumber"]
        sim.clock.advance(2)
        headers = reader(sim)
        with contract_session() as (http, _):
            queries = [query(sim, http, headers, filters()) for _ in range(9)]  # 8 per second
            downloads = [http.get(f"{sim.base_url}/v2/invoices/ksef/{ksef_number}", headers=headers)
                         for _ in range(9)]
            sim.clock.advance(1)
            again = query(sim, http, headers, filters())
    assert [r.status_code for r in queries] == [200] * 8 + [429]
    assert [r.status_code for r in downloads] == [200] * 8 + [429]
    assert queries[-1].headers["Retry-After"] == "1" and again.status_code == 200
