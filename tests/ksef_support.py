"""Shared helpers for the KSeF tests: a fake clock, FA(3) invoices, a running simulator, a KSeF client,
and contract checks of every exchange against the official OpenAPI (skipped when ../shared is absent).

Import explicitly: `from tests.ksef_support import ...`.
"""
from __future__ import annotations

import base64
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import requests

from ksef_local.ksef.auth import TokenCredentials
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.environments import custom
from ksef_local.simulator import SimulatorOptions, build_app, serve_in_thread, simulator_of
from ksef_local.simulator.keys import generate_keys

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "shared" / "ksef" / "openapi.json"
SELLER_NIP = "5265877635"   # valid checksum
OTHER_NIP = "7342867148"     # valid checksum
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Warsaw
START_DAY = START.date()


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


def invoice_xml(number: str = "FV/1/2026", *, seller_nip: str = SELLER_NIP, issue_date: date = START_DAY,
                kind: str = "VAT", buyer_nip: str = OTHER_NIP) -> bytes:
    """Return a minimal FA(3) invoice that is valid against the official XSD."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>
<WariantFormularza>3</WariantFormularza>
<DataWytworzeniaFa>{issue_date.isoformat()}T08:00:00Z</DataWytworzeniaFa>
<SystemInfo>ksef-local tests</SystemInfo></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>{seller_nip}</NIP>
<Nazwa>Sprzedawca Sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres>
<KodKraju>PL</KodKraju><AdresL1>ul. Prosta 1, 00-001 Warszawa</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>{buyer_nip}</NIP><Nazwa>Nabywca S.A.</Nazwa></DaneIdentyfikacyjne><Adres>
<KodKraju>PL</KodKraju><AdresL1>ul. Krzywa 2, 00-002 Warszawa</AdresL1></Adres><JST>2</JST>
<GV>2</GV></Podmiot2>
<Fa>
<KodWaluty>PLN</KodWaluty><P_1>{issue_date.isoformat()}</P_1><P_2>{escape(number)}</P_2>
<P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie>
<NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy>
<P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje>
<RodzajFaktury>{kind}</RodzajFaktury>
<FaWiersz>
<NrWierszaFa>1</NrWierszaFa><P_7>Usługa</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100.00</P_9A>
<P_11>100.00</P_11><P_12>23</P_12></FaWiersz>
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




# -- certificate login: certificates, signed AuthTokenRequests, /sim helpers --------------------------

AUTH_NS = {"2.0": "http://ksef.mf.gov.pl/auth/token/2.0", "2.1": "http://ksef.mf.gov.pl/auth/token/2.1"}
C14N_INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


def new_key(key_type: str = "EC"):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if key_type == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048 if key_type == "RSA" else int(key_type[3:]))


def self_signed(key, *, kind: str = "seal", nip: str = SELLER_NIP, pesel: str | None = None,
                not_before: datetime | None = None, days: int = 365):
    """Return a self-signed certificate with a seal, personal or bare subject (as KSeF TEST accepts)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    attrs = {"seal": [(NameOID.COMMON_NAME, "Firma Testowa"), (NameOID.ORGANIZATION_NAME, "Firma Testowa"),
                      (x509.ObjectIdentifier("2.5.4.97"), f"VATPL-{nip}"), (NameOID.COUNTRY_NAME, "PL")],
             "person": [(NameOID.COMMON_NAME, "Anna Nowak"), (NameOID.GIVEN_NAME, "Anna"), (NameOID.SURNAME, "Nowak"),
                        (NameOID.SERIAL_NUMBER, f"PNOPL-{pesel}" if pesel else f"TINPL-{nip}"),
                        (NameOID.COUNTRY_NAME, "PL")],
             "bare": [(NameOID.COMMON_NAME, "Bez identyfikatora"), (NameOID.COUNTRY_NAME, "PL")]}[kind]
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])
    start = not_before or (START - timedelta(days=1))
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))


def auth_request_xml(challenge: str, context: str = SELLER_NIP, *, subject_type: str = "certificateSubject",
                     version: str = "2.0", context_tag: str = "Nip", extra: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<AuthTokenRequest xmlns="{AUTH_NS[version]}">\n'
            f"  <Challenge>{challenge}</Challenge>\n"
            f"  <ContextIdentifier>\n    <{context_tag}>{context}</{context_tag}>\n  </ContextIdentifier>\n"
            f"  <SubjectIdentifierType>{subject_type}</SubjectIdentifierType>{extra}\n"
            "</AuthTokenRequest>").encode("utf-8")


def sign_signxml(xml: bytes, key, certificate, *, enveloping: bool = False, c14n: str = C14N11) -> bytes:
    """Sign with signxml's XAdESSigner (pure Python). Its exclusive-C14N XAdES output is not verifiable
    (the SignedProperties reference has no transform, so verifiers digest it with inclusive C14N): use
    inclusive C14N 1.0 or 1.1 here."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from lxml import etree
    from signxml import methods
    from signxml.xades import XAdESSigner

    algorithm = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    signer = XAdESSigner(method=methods.enveloping if enveloping else methods.enveloped,
                         signature_algorithm=algorithm, digest_algorithm="sha256", c14n_algorithm=c14n)
    signed = signer.sign(etree.fromstring(xml), key=key, cert=[certificate])
    return etree.tostring(signed, xml_declaration=True, encoding="utf-8")


def sign_xmlsec(xml: bytes, key, certificate, *, enveloping: bool = False, signing_time: bool = True,
                xades: bool = True) -> bytes:
    """Sign with python-xmlsec (libxmlsec1): enveloped like the SDK's signer, or enveloping."""
    import xmlsec
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from lxml import etree

    document = etree.fromstring(xml)
    method = xmlsec.Transform.ECDSA_SHA256 if isinstance(key,
                                                         ec.EllipticCurvePrivateKey) else xmlsec.Transform.RSA_SHA256
    signature = xmlsec.template.create(document, xmlsec.Transform.EXCL_C14N, method, ns="ds")
    signature.set("Id", "Signature")
    if enveloping:
        holder = etree.SubElement(signature, f"{{{DS_NS}}}Object", Id="Request")
        holder.append(document)
        reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="#Request")
    else:
        document.append(signature)
        reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="")
        xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    if xades:
        _xades_properties(signature, certificate, signing_time)
        props = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="#SignedProperties",
                                              type="http://uri.etsi.org/01903#SignedProperties")
        xmlsec.template.add_transform(props, xmlsec.Transform.EXCL_C14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    if enveloping:  # libxmlsec1 resolves references in the document: make the template the document's root
        signature = etree.fromstring(etree.tostring(signature))
    root = signature if enveloping else document
    xmlsec.tree.add_ids(root, ["Id"])
    context = xmlsec.SignatureContext()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    context.key = xmlsec.Key.from_memory(pem, xmlsec.KeyFormat.PEM, None)
    context.key.load_cert_from_memory(certificate.public_bytes(serialization.Encoding.PEM), xmlsec.KeyFormat.PEM)
    context.sign(signature)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _xades_properties(signature, certificate, signing_time: bool) -> None:
    import base64 as b64

    from cryptography.hazmat.primitives import hashes
    from lxml import etree

    holder = etree.SubElement(signature, f"{{{DS_NS}}}Object")
    qualifying = etree.SubElement(holder, f"{{{XADES_NS}}}QualifyingProperties", Target="#Signature",
                                  nsmap={"xades": XADES_NS})
    properties = etree.SubElement(qualifying, f"{{{XADES_NS}}}SignedProperties", Id="SignedProperties")
    signature_props = etree.SubElement(properties, f"{{{XADES_NS}}}SignedSignatureProperties")
    if signing_time:
        etree.SubElement(signature_props, f"{{{XADES_NS}}}SigningTime").text = "2026-03-02T08:59:00Z"
    cert = etree.SubElement(etree.SubElement(signature_props, f"{{{XADES_NS}}}SigningCertificate"),
                            f"{{{XADES_NS}}}Cert")
    digest = etree.SubElement(cert, f"{{{XADES_NS}}}CertDigest")
    etree.SubElement(digest, f"{{{DS_NS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(digest, f"{{{DS_NS}}}DigestValue").text = b64.b64encode(
        certificate.fingerprint(hashes.SHA256())).decode("ascii")
    serial = etree.SubElement(cert, f"{{{XADES_NS}}}IssuerSerial")
    etree.SubElement(serial, f"{{{DS_NS}}}X509IssuerName").text = certificate.issuer.rfc4514_string()
    etree.SubElement(serial, f"{{{DS_NS}}}X509SerialNumber").text = str(certificate.serial_number)


def _sim_post(running: "RunningSimulator", path: str, body: dict, expected: int = 200) -> dict:
    response = running.http.post(f"{running.base_url}{path}", json=body, timeout=10)
    assert response.status_code == expected, response.text
    return response.json() if response.content else {}


def _running_helpers() -> None:
    """Attach the certificate-login helpers to RunningSimulator (kept apart from its original body)."""

    def challenge(self) -> str:
        return self.http.post(f"{self.base_url}/v2/auth/challenge", timeout=10).json()["challenge"]

    def post_xades(self, signed: bytes, session: requests.Session | None = None, **params) -> requests.Response:
        return (session or self.http).post(f"{self.base_url}/v2/auth/xades-signature", data=signed, params=params,
                                           headers={"Content-Type": "application/xml"}, timeout=10)

    def xades_login(self, key, certificate, nip: str = SELLER_NIP, *, session: requests.Session | None = None,
                    expect: int = 200, **xml_kwargs) -> dict:
        """Log in by XAdES (xmlsec signer); return the final status JSON and, on 200, the tokens."""
        signed = sign_xmlsec(auth_request_xml(self.challenge(), nip, **xml_kwargs), key, certificate)
        init = self.post_xades(signed, session)
        assert init.status_code == 202, init.text
        auth = {"Authorization": f"Bearer {init.json()['authenticationToken']['token']}"}
        http = session or self.http
        for _ in range(30):
            status = http.get(f"{self.base_url}/v2/auth/{init.json()['referenceNumber']}", headers=auth,
                              timeout=10).json()
            if status["status"]["code"] != 100:
                break
            self.clock.advance(1)
        assert status["status"]["code"] == expect, status
        if expect == 200:
            status["tokens"] = http.post(f"{self.base_url}/v2/auth/token/redeem", headers=auth, timeout=10).json()
            status["access"] = {"Authorization": f"Bearer {status['tokens']['accessToken']['token']}"}
        return status

    def grant(self, context_nip: str, subject_type: str, value: str, permissions: list[str]) -> dict:
        return _sim_post(self, "/sim/permissions", {"contextNip": context_nip, "subject": {"type": subject_type,
                                                                                            "value": value},
                                                     "permissions": permissions}, 201)

    def options(self, **body) -> dict:
        return _sim_post(self, "/sim/options", body)

    def auth_outcome(self, **body) -> dict:
        return _sim_post(self, "/sim/auth-outcome", body)

    def demo_certificate(self, **body) -> dict:
        return _sim_post(self, "/sim/certificates", body, 201)

    for helper in (challenge, post_xades, xades_login, grant, options, auth_outcome, demo_certificate):
        setattr(RunningSimulator, helper.__name__, helper)


_running_helpers()


# -- the receiving side: purchase invoices, /sim deliveries, a reader's login -------------------------

def receiving_xml(number: str = "ZAK/1/2026", *, seller_nip: str = SELLER_NIP, buyer_nip: str = OTHER_NIP,
                  buyer_id: str | None = None, issue_date: date = START_DAY, kind: str = "VAT",
                  currency: str = "PLN", net: str = "100.00", vat: str = "23.00", vat_pln: str | None = None,
                  third: tuple[tuple[str, str], ...] = (), authorized_nip: str | None = None,
                  self_invoicing: bool = False, attachment: bool = False) -> bytes:
    """Return a valid FA(3) invoice with the parts the receiving side indexes.

    buyer_id is the inner XML of Podmiot2/DaneIdentyfikacyjne's identifier (default: NIP buyer_nip); third
    lists Podmiot3 as (inner identifier XML, Rola); vat_pln writes P_14_1W (a foreign-currency invoice).
    """
    gross = f"{float(net) + float(vat):.2f}"
    thirds = "".join(f"<Podmiot3><DaneIdentyfikacyjne>{ident}<Nazwa>Podmiot trzeci {n}</Nazwa></DaneIdentyfikacyjne>"
                     f"<Rola>{role}</Rola></Podmiot3>" for n, (ident, role) in enumerate(third, start=1))
    authorized = (f"<PodmiotUpowazniony><DaneIdentyfikacyjne><NIP>{authorized_nip}</NIP><Nazwa>Komornik</Nazwa>"
                  "</DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Sądowa 1</AdresL1></Adres>"
                  "<RolaPU>2</RolaPU></PodmiotUpowazniony>") if authorized_nip else ""
    vat_w = f"<P_14_1W>{vat_pln}</P_14_1W>" if vat_pln is not None else ""
    annex = ("<Zalacznik><BlokDanych><MetaDane><ZKlucz>Umowa</ZKlucz><ZWartosc>12/2026</ZWartosc></MetaDane>"
             "</BlokDanych></Zalacznik>") if attachment else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>
<WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{issue_date.isoformat()}T08:00:00Z</DataWytworzeniaFa>
</Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>{seller_nip}</NIP><Nazwa>Dostawca {seller_nip}</Nazwa></DaneIdentyfikacyjne>
<Adres><KodKraju>PL</KodKraju><AdresL1>ul. Prosta 1, 00-001 Warszawa</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne>{buyer_id or f"<NIP>{buyer_nip}</NIP>"}<Nazwa>Odbiorca</Nazwa></DaneIdentyfikacyjne>
<JST>2</JST><GV>2</GV></Podmiot2>{thirds}{authorized}
<Fa><KodWaluty>{currency}</KodWaluty><P_1>{issue_date.isoformat()}</P_1><P_2>{escape(number)}</P_2>
<P_13_1>{net}</P_13_1><P_14_1>{vat}</P_14_1>{vat_w}<P_15>{gross}</P_15>
<Adnotacje><P_16>2</P_16><P_17>{1 if self_invoicing else 2}</P_17><P_18>2</P_18><P_18A>2</P_18A>
<Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23>
<PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje><RodzajFaktury>{kind}</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Towar</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>{net}</P_9A>
<P_11>{net}</P_11><P_12>23</P_12></FaWiersz></Fa>{annex}</Faktura>""".encode("utf-8")


def deliver(running: "RunningSimulator", xml: bytes, expected: int = 201, **body) -> dict:
    """Deliver a purchase invoice through POST /sim/invoices; return the answer's JSON."""
    response = running.http.post(f"{running.base_url}/sim/invoices",
                                 json={"xml": base64.b64encode(xml).decode("ascii"), **body}, timeout=10)
    assert response.status_code == expected, response.text
    return response.json()


def reader(running: "RunningSimulator", nip: str = OTHER_NIP, permissions: list[str] | None = None) -> dict:
    """Log in to the NIP's context with a new KSeF token (InvoiceRead by default); return the bearer header."""
    token = running.create_token(nip, permissions or ["InvoiceRead"])
    with requests.Session() as http:
        client = running.client(token, http, nip=nip)
        client.authenticate()
        return {"Authorization": f"Bearer {client.auth.tokens.access.token}"}
