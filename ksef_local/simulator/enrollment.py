"""KSeF certificate enrollment: checking a CSR and issuing the certificate (CIRFMF/ksef-docs
certyfikaty-KSeF.md §3-§5; OpenAPI POST /certificates/enrollments, CertificateEnrollmentStatusResponse).

Enrollments are processed lazily like invoices: an enrollment received at t is decided at t + the
processing delay by the first certificate request after that.
"""
from __future__ import annotations

import base64
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ksef_local.simulator import ca
from ksef_local.simulator.common import SimContext, bad_request, iso, parse_iso
from ksef_local.simulator.subjects import enrollment_data, fingerprint, unknown_attributes

CSR_HASHES = (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)
ENROLLMENT_TEXTS = {100: "Wniosek przyjęty do realizacji", 200: "Wniosek obsłużony (certyfikat wygenerowany)",
                    400: "Wniosek odrzucony"}
# certyfikaty-KSeF.md (limits): (enrollments, active certificates) per kind of subject identifier.
LIMITS = {"Nip": (300, 100), "Pesel": (12, 6), "Fingerprint": (12, 6)}


def checked_csr(text: str, authenticating: x509.Certificate) -> x509.CertificateSigningRequest:
    """Return the CSR when KSeF would accept it: 25004, 25011, 25010, 25003 otherwise (in that order)."""
    try:
        csr = x509.load_der_x509_csr(base64.b64decode(text, validate=True))
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise bad_request(25004, "Niepoprawny format CSR lub niepoprawny podpis CSR.") from exc
    if not signature_ok:
        raise bad_request(25004, "Niepoprawny format CSR lub niepoprawny podpis CSR.")
    _check_signature_algorithm(csr)
    _check_key(csr.public_key())
    extra = unknown_attributes(csr.subject)
    if extra or enrollment_data(csr.subject) != enrollment_data(authenticating.subject):
        raise bad_request(25003, "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
                          "Podmiot CSR musi zawierać dokładnie dane zwrócone przez /certificates/enrollments/data.")
    return csr


def _check_signature_algorithm(csr: x509.CertificateSigningRequest) -> None:
    try:
        digest = csr.signature_hash_algorithm
        scheme = csr.signature_algorithm_parameters
    except (UnsupportedAlgorithm, ValueError) as exc:
        raise bad_request(25011, "Nieprawidłowy algorytm podpisu CSR.") from exc
    allowed_scheme = isinstance(scheme, (padding.PKCS1v15, padding.PSS, ec.ECDSA))
    if not isinstance(digest, CSR_HASHES) or not allowed_scheme:
        raise bad_request(25011, "Nieprawidłowy algorytm podpisu CSR.",
                          "Dozwolone: RSA PKCS#1 v1.5, RSA-PSS, ECDSA z SHA1/SHA256/SHA384/SHA512.")


def _check_key(key) -> None:
    """RSA of exactly 2048 bits or EC on NIST P-256 (25010)."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048:
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return
    raise bad_request(25010, "Nieprawidłowy typ lub długość klucza.", "Dozwolone: RSA 2048 albo EC P-256.")


def active_count(ctx: SimContext, owner: dict) -> int:
    return sum(1 for _, cert in ctx.store.items("kcert") if cert["owner"] == owner and status_of(ctx, cert) == "Active")


def enrollment_count(ctx: SimContext, owner: dict) -> int:
    return sum(1 for _, item in ctx.store.items("enrollment") if item["owner"] == owner)


def status_of(ctx: SimContext, cert: dict) -> str:
    """CertificateListItemStatus as of now: Revoked, Expired or Active."""
    if cert["status"] == "Revoked":
        return "Revoked"
    return "Expired" if ctx.now() > parse_iso(cert["validTo"]) else "Active"


def settle(ctx: SimContext) -> None:
    """Decide every enrollment whose processing delay has passed."""
    for reference, item in list(ctx.store.items("enrollment")):
        if item["status"]["code"] == 100 and ctx.now() >= parse_iso(item["due"]):
            _decide(ctx, item)
            ctx.store.put("enrollment", reference, item)


def _decide(ctx: SimContext, item: dict) -> None:
    csr = x509.load_der_x509_csr(base64.b64decode(item["csr"]))
    key_der = csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = base64.b64encode(key_der).decode("ascii")
    for _, cert in ctx.store.items("kcert"):
        if cert["publicKey"] == key_id and cert["owner"] != item["owner"]:
            item["status"] = {"code": 400, "description": ENROLLMENT_TEXTS[400],
                              "details": ["Klucz publiczny został już certyfikowany przez inny podmiot."]}
            return
    if active_count(ctx, item["owner"]) >= LIMITS[item["owner"]["type"]][1]:
        item["status"] = {"code": 400, "description": ENROLLMENT_TEXTS[400],
                          "details": ["Osiągnięto dopuszczalny limit posiadanych certyfikatów."]}
        return
    record = issue(ctx, item, csr, key_id)
    item["status"] = {"code": 200, "description": ENROLLMENT_TEXTS[200]}
    item["serial"] = record["serial"]


def issue(ctx: SimContext, item: dict, csr: x509.CertificateSigningRequest, key_id: str) -> dict:
    """Sign the certificate with the KSeF CA and record it."""
    serial, text = ca.new_serial(lambda candidate: ctx.store.get("kcert", candidate) is not None)
    not_before = parse_iso(item["validFrom"]) if item.get("validFrom") else parse_iso(item["due"])
    not_after = not_before + timedelta(days=ctx.options.ksef_certificate_days)
    certificate = ca.authority(ctx, "ksef").issue(csr.subject, csr.public_key(), serial=serial,
                                                  not_before=not_before, not_after=not_after,
                                                  non_repudiation=item["type"] == "Offline")
    der = certificate.public_bytes(serialization.Encoding.DER)
    common_name = enrollment_data(csr.subject).get("commonName", "")
    record = {"serial": text, "name": item["name"], "type": item["type"], "status": "Active", "owner": item["owner"],
              "commonName": common_name, "der": base64.b64encode(der).decode("ascii"), "publicKey": key_id,
              "fingerprint": fingerprint(certificate), "validFrom": iso(not_before), "validTo": iso(not_after),
              "requestDate": item["requested"], "lastUseDate": None, "revocationReason": None}
    ctx.store.put("kcert", text, record)
    return record


def reissue(ctx: SimContext, record: dict, valid_to) -> dict:
    """Re-sign a certificate with an earlier end of validity (as TEST's PUT /testdata/certificates/{serial})."""
    old = x509.load_der_x509_certificate(base64.b64decode(record["der"]))
    certificate = ca.authority(ctx, "ksef").issue(
        old.subject, old.public_key(), serial=old.serial_number, not_before=old.not_valid_before_utc,
        not_after=valid_to, non_repudiation=record["type"] == "Offline")
    record.update(der=base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii"),
                  validTo=iso(valid_to), fingerprint=fingerprint(certificate))
    ctx.store.put("kcert", record["serial"], record)
    return record
