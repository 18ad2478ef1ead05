"""Shared helpers for the KSeF tests: a fake clock, FA(3) invoices, a running simulator, a KSeF client,
and contract checks of every exchange against the official OpenAPI (skipped when ../shared is absent).

Import explicitly: `from tests.ksef_support import ...`.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import requests

from ksef_local.ksef.auth import TokenCredentials
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.environments import custom
from ksef_local.simulator.keys import generate_keys
from ksef_local.simulator import SimulatorOptions, build_app, serve_in_thread, simulator_of

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "shared" / "ksef" / "openapi.json"
SELLER_NIP = "5265877635"   # valid checksum
OTHER_NIP = "7342867148"     # valid checksum
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Warsaw


class FakeClock:
    """A settable clock; advance() doubles as the client's sleep so polling costs no wall time."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def invoice_xml(number: str = "FV/1/2026", *, seller_nip: str = SELLER_NIP, issue_date: date = START.date(),
                kind: str = "VAT", buyer_nip: str = OTHER_NIP) -> bytes:
    """Return a minimal FA(3) invoice that is valid against the official XSD."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{issue_date.isoformat()}T08:00:00Z</DataWytworzeniaFa><SystemInfo>ksef-local tests</SystemInfo></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>{seller_nip}</NIP><Nazwa>Sprzedawca Sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Prosta 1, 00-001 Warszawa</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>{buyer_nip}</NIP><Nazwa>Nabywca S.A.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Krzywa 2, 00-002 Warszawa</AdresL1></Adres><JST>2</JST><GV>2</GV></Podmiot2>
<Fa><KodWaluty>PLN</KodWaluty><P_1>{issue_date.isoformat()}</P_1><P_2>{escape(number)}</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje>
<RodzajFaktury>{kind}</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Usługa</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100.00</P_9A><P_11>100.00</P_11><P_12>23</P_12></FaWiersz>
</Fa></Faktura>""".encode("utf-8")


_KEYS: dict = {}


def shared_keys() -> dict:
    """RSA keys generated once per test run (key generation is the slow part of starting a simulator)."""
    if not _KEYS:
        _KEYS.update(generate_keys(START - timedelta(days=1)))
    return _KEYS


# -- contract checks ----------------------------------------------------------------------------------

class Contract:
    """Validate recorded requests and responses against the official OpenAPI with openapi-core."""

    _spec = None

    @classmethod
    def spec(cls):
        if cls._spec is None and OPENAPI_PATH.exists():
            from openapi_core import Config, OpenAPI

            document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
            document["servers"] = [{"url": "http://127.0.0.1:{port}/v2", "variables": {"port": {"default": "80"}}}]
            # The spec types UPO bodies as a string; openapi-core would parse the XML into an element.
            # openapi-core 0.23 has no deserializer for application/problem+json; it is plain JSON.
            extra = {"application/xml": lambda data, **_: data.decode("utf-8") if isinstance(data, bytes) else data,
                     "application/problem+json": lambda data, **_: json.loads(data)}
            cls._spec = OpenAPI.from_dict(document, config=Config(extra_media_type_deserializers=extra))
        return cls._spec

    def __init__(self) -> None:
        self.exchanges: list[tuple[requests.PreparedRequest, requests.Response]] = []

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        self.exchanges.append((response.request, response))

    def problems(self, check_requests: bool = True) -> list[str]:
        """Return one line per exchange that breaks the spec (only /v2, only statuses the spec defines)."""
        from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

        spec = self.spec()
        found = []
        for prepared, response in self.exchanges:
            if "/v2/" not in prepared.url or response.status_code >= 500:
                continue
            openapi_request = RequestsOpenAPIRequest(prepared)
            try:
                if check_requests:
                    spec.validate_request(openapi_request)
                spec.validate_response(openapi_request, RequestsOpenAPIResponse(response))
            except Exception as exc:  # openapi-core raises many unrelated classes; report them all
                cause = exc.__cause__ or exc.__context__
                found.append(f"{prepared.method} {prepared.path_url} -> {response.status_code}: {exc!r} {cause}"[:2000])
        return found

    def validated_count(self) -> int:
        return sum(1 for p, r in self.exchanges if "/v2/" in p.url and r.status_code < 500)


@contextmanager
def contract_session(check_requests: bool = True):
    """Yield (session, contract); on exit assert every /v2 exchange matched the spec (when it exists)."""
    contract = Contract()
    with requests.Session() as session:
        session.hooks["response"].append(contract.hook)
        yield session, contract
    if Contract.spec() is not None:
        problems = contract.problems(check_requests)
        assert not problems, "OpenAPI contract violations:\n" + "\n".join(problems)


# -- a running simulator ------------------------------------------------------------------------------

@dataclass
class RunningSimulator:
    base_url: str
    clock: FakeClock
    app: object
    stop: object
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def sim(self):
        return simulator_of(self.app)

    def create_token(self, nip: str = SELLER_NIP, permissions: list[str] | None = None) -> str:
        body = {"nip": nip} | ({"permissions": permissions} if permissions is not None else {})
        response = self.http.post(f"{self.base_url}/sim/tokens", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def revoke_token(self, token: str) -> None:
        response = self.http.delete(f"{self.base_url}/sim/tokens/{requests.utils.quote(token, safe='')}", timeout=10)
        assert response.status_code == 204, response.text

    def faults(self, **body) -> dict:
        response = self.http.post(f"{self.base_url}/sim/faults", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> dict:
        return self.http.get(f"{self.base_url}/sim/state", timeout=10).json()

    def client(self, token: str, session: requests.Session, nip: str = SELLER_NIP, **kwargs) -> KsefClient:
        options = dict(clock=self.clock, sleep=self.clock.advance, poll_interval=0.5, max_polls=20, timeout=10)
        options.update(kwargs)
        return KsefClient(custom(self.base_url), TokenCredentials(nip, token), session=session, **options)


@contextmanager
def running_simulator(**overrides):
    """Start a simulator on 127.0.0.1, port 0, in a thread, with a fake clock; stop it afterwards."""
    clock = overrides.pop("clock", None) or FakeClock()
    options = SimulatorOptions(port=0, clock=clock, keys=shared_keys(), seed=overrides.pop("seed", 7),
                               limits=overrides.pop("limits", "off"), **overrides)
    app = build_app(options)
    base_url, stop = serve_in_thread(app)
    running = RunningSimulator(base_url, clock, app, stop)
    try:
        yield running
    finally:
        running.http.close()
        stop()


@pytest.fixture
def simulator():
    with running_simulator() as running:
        yield running
