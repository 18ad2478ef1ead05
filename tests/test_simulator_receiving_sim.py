"""The simulator-only deliveries of purchase invoices: POST /sim/invoices, /sim/invoices/bulk, /sim/demo-purchases."""
from __future__ import annotations

import argparse
import base64
import time
from datetime import timedelta

import pytest
from lxml import etree

from ksef_local import simulator as simulator_module
from ksef_local.simulator.invoices import xml_problems
from tests.ksef_support import (
    OTHER_NIP,
    SELLER_NIP,
    START,
    START_DAY,
    FakeClock,
    contract_session,
    deliver,
    reader,
    receiving_xml,
    running_simulator,
)

FA = "{http://crd.gov.pl/wzor/2025/06/25/13775/}"


def buyer_invoices(sim, http, headers, start="2026-01-01T00:00:00Z", date_type="Invoicing", **params) -> dict:
    return http.post(f"{sim.base_url}/v2/invoices/query/metadata", headers=headers, params={"pageSize": 250} | params,
                     json={"subjectType": "Subject2", "dateRange": {"dateType": date_type, "from": start}}).json()


def test_sim_delivery_accepts_as_if_the_seller_had_sent_it(simulator):
    earlier = START - timedelta(days=3, hours=2)
    today = deliver(simulator, receiving_xml("SIM/1"))
    backdated = deliver(simulator, receiving_xml("SIM/2", issue_date=START_DAY - timedelta(days=4)),
                        acceptedAt=earlier.isoformat())
    forced = deliver(simulator, receiving_xml("SIM/3"), offlineMode=True)
    assert today["ksefNumber"].startswith(f"{SELLER_NIP}-20260302-")
    assert today["invoicingMode"] == "Online" and forced["invoicingMode"] == "Offline"
    assert backdated["ksefNumber"].startswith(f"{SELLER_NIP}-20260227-")  # the acceptance day, in Warsaw
    assert backdated["acquisitionDate"] == backdated["invoicingDate"] == earlier.isoformat(timespec="milliseconds")
    assert backdated["permanentStorageDate"] == (earlier + timedelta(seconds=1)).isoformat(timespec="milliseconds")
    assert backdated["invoicingMode"] == "Offline"  # P_1 earlier than the day of acceptance


def test_sim_delivery_refuses_what_ksef_would_refuse(simulator):
    deliver(simulator, receiving_xml("DUP/1"))
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        sent = client.send_invoice(session, receiving_xml("DUP/2"))
        client.wait_for_invoice(session.reference_number, sent.reference_number)
        resent = client.wait_for_invoice(session.reference_number,
                                         client.send_invoice(session, receiving_xml("DUP/1")).reference_number)
    broken = deliver(simulator, b"<Faktura>nie FA(3)</Faktura>", expected=422)["status"]
    future = deliver(simulator, receiving_xml("LATE/1", issue_date=START_DAY + timedelta(days=9)), expected=422)
    again = deliver(simulator, receiving_xml("DUP/1"), expected=422)["status"]
    after_session = deliver(simulator, receiving_xml("DUP/2"), expected=422)["status"]
    assert broken["code"] == 430 and broken["details"]
    assert future["status"]["code"] == 450
    assert again["code"] == 440 and "originalSessionReferenceNumber" not in again["extensions"]
    assert after_session["extensions"]["originalSessionReferenceNumber"] == session.reference_number
    assert resent.code == 440  # the seller's own session meets the delivered invoice too


@pytest.mark.parametrize("body", [
    {},
    {"xml": "nie base64!"},
    {"xml": base64.b64encode(receiving_xml()).decode(), "acceptedAt": "2099-01-01T00:00:00Z"},
    {"xml": base64.b64encode(receiving_xml()).decode(), "acceptedAt": "2026-03-01T10:00:00"},
    {"xml": base64.b64encode(receiving_xml()).decode(), "offlineMode": "tak"},
])
def test_sim_delivery_refuses_malformed_requests_with_21405(simulator, body):
    answer = simulator.http.post(f"{simulator.base_url}/sim/invoices", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405


def test_sim_bulk_spreads_valid_invoices_over_the_period(simulator):
    start, end = START - timedelta(days=20), START - timedelta(days=10)
    made = simulator.http.post(f"{simulator.base_url}/sim/invoices/bulk", timeout=60, json={
        "count": 120, "buyerNip": OTHER_NIP, "sellers": [SELLER_NIP, {"nip": "3812098344", "name": "Huta Szkła"}],
        "from": start.isoformat(), "to": end.isoformat(), "seed": 5})
    headers = reader(simulator)
    with contract_session() as (http, _):
        listed = buyer_invoices(simulator, http, headers)["invoices"]
        sample = http.get(f"{simulator.base_url}/v2/invoices/ksef/{listed[7]['ksefNumber']}", headers=headers)
    assert made.status_code == 201 and made.json()["count"] == 120
    assert [item["ksefNumber"] for item in listed] == made.json()["ksefNumbers"]
    assert len(set(made.json()["ksefNumbers"])) == 120
    moments = [item["invoicingDate"] for item in listed]
    assert start.isoformat(timespec="milliseconds") < moments[0]
    assert moments[-1] == end.isoformat(timespec="milliseconds") and moments == sorted(moments)
    assert {item["seller"]["nip"] for item in listed} == {SELLER_NIP, "3812098344"}
    assert {item["seller"]["name"] for item in listed if item["seller"]["nip"] == "3812098344"} == {"Huta Szkła"}
    assert len({item["vatAmount"] / item["netAmount"] for item in listed if item["netAmount"]}) > 1
    assert xml_problems(sample.content) == []


@pytest.mark.parametrize("body", [
    {"count": 0, "buyerNip": OTHER_NIP},
    {"count": 5},
    {"count": 5, "buyerNip": "12345"},
    {"count": 5, "buyerNip": OTHER_NIP, "from": "2026-03-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
    {"count": 5, "buyerNip": OTHER_NIP, "sellers": ["1"]},
])
def test_sim_bulk_refuses_bad_requests(simulator, body):
    answer = simulator.http.post(f"{simulator.base_url}/sim/invoices/bulk", json=body, timeout=10)
    assert answer.status_code == 400


@pytest.mark.slow
def test_sim_bulk_makes_ten_thousand_quickly_and_the_query_truncates_past_them(simulator):
    began = time.monotonic()
    made = simulator.http.post(f"{simulator.base_url}/sim/invoices/bulk", timeout=300, json={
        "count": 10_001, "buyerNip": OTHER_NIP, "from": "2026-02-01T00:00:00Z", "to": START.isoformat()})
    elapsed = time.monotonic() - began
    simulator.clock.advance(2)  # the last one was accepted "now": stored a second later
    headers = reader(simulator)
    with contract_session() as (http, _):
        last_page = buyer_invoices(simulator, http, headers, start="2026-02-01T00:00:00Z",
                                   date_type="PermanentStorage", pageOffset=39)
    assert made.status_code == 201 and elapsed < 60
    assert (last_page["hasMore"], last_page["isTruncated"], len(last_page["invoices"])) == (True, True, 250)


def test_sim_demo_purchases_are_realistic_and_made_once_per_buyer(tmp_path):
    state = tmp_path / "simulator.sqlite"
    clock = FakeClock(START + timedelta(days=14))  # 16 March 2026
    with running_simulator(state_file=str(state), clock=clock) as sim:
        first = sim.http.post(f"{sim.base_url}/sim/demo-purchases", json={"buyerNip": OTHER_NIP,
                                                                        "buyerName": "Piekarnia Zażółć"})
        again = sim.http.post(f"{sim.base_url}/sim/demo-purchases", json={"buyerNip": OTHER_NIP})
        headers = reader(sim)
        with contract_session() as (http, _):
            listed = buyer_invoices(sim, http, headers, start="2025-12-20T00:00:00Z")["invoices"]
            documents = [etree.fromstring(http.get(f"{sim.base_url}/v2/invoices/ksef/{i['ksefNumber']}",
                                                   headers=headers).content) for i in listed]
    with running_simulator(state_file=str(state), clock=clock) as restarted:
        after_restart = restarted.http.post(f"{restarted.base_url}/sim/demo-purchases", json={"buyerNip": OTHER_NIP})
        count = restarted.sim.ctx.store.count("received")
    made = first.json()["invoices"]
    assert first.status_code == 201 and first.json()["created"] is True and 3 <= len(made) <= 5
    assert again.status_code == after_restart.status_code == 200 and again.json()["created"] is False
    assert again.json()["invoices"] == after_restart.json()["invoices"] == made and count == len(made)
    assert sorted(i["ksefNumber"] for i in listed) == sorted(i["ksefNumber"] for i in made)
    months = {i["issueDate"][:7] for i in made}
    assert "2026-03" in months and len(months) >= 3
    assert len({i["sellerNip"] for i in made}) == len(made)
    rates = {rate.text for doc in documents for rate in doc.iter(f"{FA}P_12")}
    assert len(rates) >= 3
    for doc in documents:
        assert doc.findtext(f"{FA}Podmiot2/{FA}DaneIdentyfikacyjne/{FA}Nazwa") == "Piekarnia Zażółć"
        assert doc.findtext(f"{FA}Fa/{FA}Platnosc/{FA}TerminPlatnosci/{FA}Termin")
        assert len(doc.findtext(f"{FA}Fa/{FA}Platnosc/{FA}RachunekBankowy/{FA}NrRB")) == 26
        assert xml_problems(etree.tostring(doc, xml_declaration=True, encoding="UTF-8")) == []


def test_sim_storage_delay_is_an_option_and_a_command_line_flag():
    parser = argparse.ArgumentParser()
    simulator_module.add_arguments(parser)
    assert simulator_module.options_from_args(parser.parse_args(["--storage-ms", "5000"])).storage_ms == 5000
    assert simulator_module.options_from_args(parser.parse_args([])).storage_ms is None
    with running_simulator(storage_ms=5000) as sim:
        made = deliver(sim, receiving_xml("SLOW/1"))
        headers = reader(sim)  # logging in moves the clock by less than the delay
        with contract_session() as (http, _):
            early = buyer_invoices(sim, http, headers, date_type="PermanentStorage", start="2026-03-01T00:00:00Z")
    assert made["permanentStorageDate"] == (START + timedelta(seconds=5)).isoformat(timespec="milliseconds")
    assert early["invoices"] == []
    assert early["permanentStorageHwmDate"] <= (sim.clock() - timedelta(seconds=5)).isoformat(timespec="milliseconds")
