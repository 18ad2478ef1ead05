"""Contract: the OpenAPI file itself and the simulator's own answers outside a client flow.

Every E2E test already validates each request and response through tests.ksef_support.contract_session;
this module makes a missing spec visible as a skip instead of passing quietly.
"""
from __future__ import annotations

import pytest
import requests

from ksef_local.simulator import invoices as sim_invoices
from tests.ksef_support import OPENAPI_PATH, Contract, contract_session, invoice_xml


def _require_spec():
    if Contract.spec() is None:
        pytest.skip(f"official OpenAPI not found at {OPENAPI_PATH} (../shared is absent); contract checks skipped")


def test_contract_checker_catches_a_wrong_response():
    _require_spec()
    contract = Contract()
    response = requests.Response()
    response.status_code = 200
    response._content = b'{"challenge": "too short"}'
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request("POST", "http://127.0.0.1:1/v2/auth/challenge").prepare()
    contract.hook(response)
    assert len(contract.problems()) == 1


def test_error_answers_match_the_spec(simulator):
    _require_spec()
    with contract_session(check_requests=False) as (http, contract):
        api = f"{simulator.base_url}/v2"
        http.post(f"{api}/auth/challenge")
        http.get(f"{api}/sessions/20260302-SO-0000000000-0000000000-00")  # 401
        body = {"challenge": "x" * 36, "contextIdentifier": {"type": "Nip", "value": "5265877635"},
                "encryptedToken": "AA=="}
        http.post(f"{api}/auth/ksef-token", json=body)  # legacy 400
        http.post(f"{api}/auth/ksef-token", json=body, headers={"X-Error-Format": "problem-details"})
    assert [r.status_code for _, r in contract.exchanges] == [200, 401, 400, 400]


def test_fallback_xsd_validator_without_the_fa3_module():
    root = __import__("lxml.etree", fromlist=["fromstring"]).fromstring(invoice_xml())
    assert sim_invoices._schema().validate(root)
    broken = __import__("lxml.etree", fromlist=["fromstring"]).fromstring(invoice_xml(number=""))
    assert not sim_invoices._schema().validate(broken)


def test_xml_rules_before_the_schema():
    assert "BOM" in sim_invoices.xml_problems(b"\xef\xbb\xbf" + invoice_xml())[0]
    assert "instrukcje" in sim_invoices.xml_problems(invoice_xml().replace(b"<Naglowek>", b"<?pi x?><Naglowek>"))[0]
    assert sim_invoices.xml_problems(invoice_xml()) == []
    assert sim_invoices.is_valid_nip("5265877635") and not sim_invoices.is_valid_nip("1234567890")
