"""The end of KSeF-token logins in the simulator: --tokens-until and each refusal variant."""
from __future__ import annotations

import argparse
from datetime import date

import pytest

from ksef_local import simulator as simulator_module
from tests.ksef_support import SELLER_NIP, running_simulator
from tests.test_ksef_simulator import DocsClient


def _login(sim, token: str):
    """Start a token login by hand; return (init response, auth headers)."""
    docs = DocsClient(sim.base_url, sim.http)
    challenge = sim.http.post(f"{docs.api}/auth/challenge").json()
    cert, item = docs.keys()["KsefTokenEncryption"]
    from tests.test_ksef_simulator import OAEP, b64

    encrypted = cert.public_key().encrypt(f"{token}|{challenge['timestampMs']}".encode(), OAEP)
    init = sim.http.post(f"{docs.api}/auth/ksef-token", json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
        "encryptedToken": b64(encrypted), "publicKeyId": item["publicKeyId"]})
    bearer = init.json()["authenticationToken"]["token"] if init.status_code == 202 else None
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return init, headers


def _status(sim, init, headers) -> dict:
    sim.clock.advance(2)
    return sim.http.get(f"{sim.base_url}/v2/auth/{init.json()['referenceNumber']}", headers=headers).json()["status"]


def test_tokens_work_until_the_last_day_in_warsaw(simulator):
    simulator.options(tokensUntil="2026-03-02")  # the fake clock's day
    init, headers = _login(simulator, simulator.create_token())
    assert init.status_code == 202 and _status(simulator, init, headers)["code"] == 200


def test_refusal_403_auth_method_not_allowed():
    with running_simulator(tokens_until=date(2026, 3, 1)) as sim:
        init, _ = _login(sim, sim.create_token())
        assert init.status_code == 403
        body = init.json()
        assert body["reasonCode"] == "auth-method-not-allowed"
        assert body["security"] == {"authenticationMethodCategory": "Token"}
        assert init.headers["Content-Type"].startswith("application/problem+json")


def test_refusal_450_token_nieaktywny(simulator):
    simulator.options(tokensUntil="2026-03-01", tokensRefusal="450")
    init, headers = _login(simulator, simulator.create_token())
    assert _status(simulator, init, headers) == {
        "code": 450, "description": "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
        "details": ["Token nieaktywny"]}


def test_refusal_21301_at_redeem_and_refresh(simulator):
    token = simulator.create_token()
    early, early_headers = _login(simulator, token)
    assert _status(simulator, early, early_headers)["code"] == 200
    tokens = simulator.http.post(f"{simulator.base_url}/v2/auth/token/redeem", headers=early_headers).json()
    simulator.options(tokensUntil="2026-03-01", tokensRefusal="21301")
    init, headers = _login(simulator, token)
    assert _status(simulator, init, headers)["code"] == 200
    redeem = simulator.http.post(f"{simulator.base_url}/v2/auth/token/redeem", headers=headers)
    assert redeem.status_code == 400
    assert redeem.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301
    refresh = simulator.http.post(f"{simulator.base_url}/v2/auth/token/refresh",
                                  headers={"Authorization": f"Bearer {tokens['refreshToken']['token']}"})
    assert refresh.status_code == 400
    assert refresh.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301


def test_options_endpoint_validates_and_can_lift_the_cutoff(simulator):
    bad = simulator.http.post(f"{simulator.base_url}/sim/options", json={"tokensRefusal": "418"})
    assert bad.status_code == 400
    simulator.options(tokensUntil="2026-01-01")
    assert _login(simulator, simulator.create_token())[0].status_code == 403
    assert simulator.options(tokensUntil=None)["tokensUntil"] is None
    assert _login(simulator, simulator.create_token())[0].status_code == 202


@pytest.mark.parametrize("argv, expected", [
    ([], (None, "403", None, 730)),
    (["--tokens-until", "2026-12-31", "--tokens-refusal", "450", "--xades-delay-ms", "5000", "--ksef-cert-days", "7"],
     (date(2026, 12, 31), "450", 5000, 7)),
])
def test_cli_options_for_certificate_login(argv, expected):
    parser = argparse.ArgumentParser()
    simulator_module.add_arguments(parser)
    options = simulator_module.options_from_args(parser.parse_args(argv))
    assert (options.tokens_until, options.tokens_refusal, options.xades_delay_ms,
            options.ksef_certificate_days) == expected
