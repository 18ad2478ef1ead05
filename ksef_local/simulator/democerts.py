"""Demonstration seal and signature certificates for the demo mode (POST /sim/certificates, simulator only).

They are issued by the simulator's demonstration CA (ca.py) with the subject a qualified company seal or
a qualified personal signature carries (CIRFMF/ksef-docs auth/podpis-xades.md), so the app can log in by
XAdES to the simulator. They are NOT qualified certificates and are worthless anywhere else.
"""
from __future__ import annotations

import base64
import re
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ksef_local.simulator import ca
from ksef_local.simulator.common import SimContext, invalid
from ksef_local.simulator.subjects import ORGANIZATION_IDENTIFIER, fingerprint


def issue_demo_certificate(ctx: SimContext, body) -> dict:
    """Issue a seal ("seal") or personal ("person") certificate with a fresh EC P-256 or RSA-2048 key."""
    spec = _spec(body)
    key = ec.generate_private_key(ec.SECP256R1()) if spec["keyType"] == "EC" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = ctx.now()
    serial, serial_hex = ca.new_serial(lambda _: False)
    certificate = ca.authority(ctx, "demo").issue(
        _subject(spec), key.public_key(), serial=serial, not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=spec["validDays"]), non_repudiation=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    answer = {"certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
              "privateKey": key_pem, "serialNumber": serial_hex, "fingerprint": fingerprint(certificate),
              "subject": certificate.subject.rfc4514_string(), "validTo": certificate.not_valid_after_utc.isoformat(),
              "notice": "Certyfikat demonstracyjny symulatora ksef-local - NIE jest certyfikatem kwalifikowanym."}
    if spec["password"]:
        bundle = pkcs12.serialize_key_and_certificates(
            b"ksef-local demo", key, certificate, [ca.authority(ctx, "demo").certificate],
            serialization.BestAvailableEncryption(spec["password"].encode("utf-8")))
        answer["pkcs12"] = base64.b64encode(bundle).decode("ascii")
    return answer


def _spec(body) -> dict:
    if not isinstance(body, dict):
        raise invalid("Treść musi być obiektem JSON.")
    spec = {"nip": str(body.get("nip", "")), "kind": body.get("kind", "seal"), "keyType": body.get("keyType", "EC"),
            "pesel": body.get("pesel"), "givenName": body.get("givenName") or "Jan",
            "surname": body.get("surname") or "Kowalski", "validDays": body.get("validDays", 730),
            "password": body.get("password"), "name": body.get("organizationName")}
    if not re.fullmatch(r"\d{10}", spec["nip"]) and not (spec["kind"] == "person" and spec["pesel"]):
        raise invalid("Pole 'nip' musi zawierać 10 cyfr (osoba może zamiast niego mieć 'pesel').")
    if spec["kind"] not in ("seal", "person") or spec["keyType"] not in ("EC", "RSA"):
        raise invalid("Pole 'kind' musi być seal albo person, a 'keyType' EC albo RSA.")
    if spec["pesel"] is not None and not re.fullmatch(r"\d{11}", str(spec["pesel"])):
        raise invalid("Pole 'pesel' musi zawierać 11 cyfr.")
    if not isinstance(spec["validDays"], int) or not 1 <= spec["validDays"] <= 3650:
        raise invalid("Pole 'validDays' musi być liczbą dni od 1 do 3650.")
    if spec["password"] is not None and not isinstance(spec["password"], str):
        raise invalid("Pole 'password' musi być tekstem.")
    return spec


def _subject(spec: dict) -> x509.Name:
    if spec["kind"] == "seal":
        name = spec["name"] or f"Firma demonstracyjna {spec['nip']}"
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                          x509.NameAttribute(ORGANIZATION_IDENTIFIER, f"VATPL-{spec['nip']}"),
                          x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    serial = f"PNOPL-{spec['pesel']}" if spec["pesel"] else f"TINPL-{spec['nip']}"
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{spec['givenName']} {spec['surname']}"),
                      x509.NameAttribute(NameOID.GIVEN_NAME, spec["givenName"]),
                      x509.NameAttribute(NameOID.SURNAME, spec["surname"]),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
