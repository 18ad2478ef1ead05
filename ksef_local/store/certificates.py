"""Certificates the program uses with KSeF, per KSeF environment and context NIP, and the requests for new
KSeF certificates still in flight.

- usage "login": logs in by XAdES signature — a KSeF Authentication certificate (enrolled by the program
  or imported from the MF app) or a qualified seal or signature;
- usage "offline": a KSeF Offline certificate, which alone may sign KOD II on offline invoices
  (CIRFMF/ksef-docs kody-qr.md: an Authentication certificate must not be used for it).

A private key lives only in the secret store (house-style rule 14), under key_secret; the table keeps the
certificate and what the screens show. Keys are stored before rows, so a row never points at nothing.
Retired or revoked certificates stay as history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ksef_local.clock import utc_now
from ksef_local.forms.certificates import PrivateKey, check, serial_text
from ksef_local.store import db as dbmod
from ksef_local.store.db import iso
from ksef_local.store.secrets import SecretStore

LOGIN, OFFLINE_USE = "login", "offline"
ORIGIN_PRIORITY = {"enrolled": 0, "imported": 1, "demo": 2}  # which login certificate to use first


@dataclass(frozen=True)
class StoredCertificate:
    """One certificate row with its X.509 certificate; never the key."""

    id: int
    environment: str
    nip: str
    usage: str
    origin: str
    ksef_type: str | None
    name: str | None
    serial: str
    key_type: str
    state: str
    created_at: datetime
    certificate: x509.Certificate
    key_secret: str

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        return self.certificate.issuer.rfc4514_string()

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex().upper()

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def is_valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after

    def days_left(self, moment: datetime) -> int:
        return (self.not_after - moment).days


@dataclass(frozen=True)
class OfflineSigner:
    """What KOD II needs: the certificate serial, the signing key and the context it acts in."""

    serial: str
    private_key: PrivateKey
    context_type: str = "Nip"
    context_value: str = ""

    def __repr__(self) -> str:  # never show the key
        return f"OfflineSigner(serial={self.serial!r}, context={self.context_type}/{self.context_value})"


def _certificate(row: dict[str, Any]) -> StoredCertificate:
    return StoredCertificate(
        row["id"], row["environment"], row["nip"], row["usage"], row["origin"], row["ksef_type"], row["name"],
        row["serial"], row["key_type"], row["state"], datetime.fromisoformat(row["created_at"]),
        x509.load_pem_x509_certificate(row["certificate_pem"].encode("ascii")), row["key_secret"])


def key_secret_name(certificate: x509.Certificate) -> str:
    return f"certificate-key/{certificate.fingerprint(hashes.SHA256()).hex()}"


def add(db: sqlite_utils.Database, secrets: SecretStore, *, environment: str, nip: str, usage: str, origin: str,
        certificate: x509.Certificate, key: PrivateKey, now: datetime, ksef_type: str | None = None,
        name: str | None = None, key_secret: str | None = None) -> StoredCertificate:
    """Check the pair, keep the key in the secret store (unless it is there already) and add the row."""
    key_type = check(certificate, key)
    secret = key_secret or key_secret_name(certificate)
    if key_secret is None:
        secrets.set(secret, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii"))
    row = {"environment": environment, "nip": nip, "usage": usage, "origin": origin, "ksef_type": ksef_type,
           "name": name, "subject": certificate.subject.rfc4514_string(),
           "issuer": certificate.issuer.rfc4514_string(), "serial": serial_text(certificate),
           "fingerprint": certificate.fingerprint(hashes.SHA256()).hex().upper(), "key_type": key_type,
           "not_before": iso(certificate.not_valid_before_utc), "not_after": iso(certificate.not_valid_after_utc),
           "certificate_pem": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
           "key_secret": secret, "created_at": iso(now), "updated_at": iso(now)}
    columns = ", ".join(row)
    with dbmod.write(db):
        cursor = db.execute(f"INSERT INTO certificates ({columns}) VALUES ({', '.join(':' + k for k in row)})", row)
    return get(db, cursor.lastrowid)


def get(db: sqlite_utils.Database, certificate_id: int) -> StoredCertificate:
    return _certificate(next(db.query("SELECT * FROM certificates WHERE id = ?", [certificate_id])))


def listed(db: sqlite_utils.Database, environment: str | None = None, nip: str | None = None,
           states: tuple[str, ...] = ("active",)) -> list[StoredCertificate]:
    """Certificates in these states, for one environment and NIP when given, the longest valid first."""
    where, params = [f"state IN ({', '.join('?' * len(states))})"], list(states)
    if environment is not None:
        where.append("environment = ?")
        params.append(environment)
    if nip is not None:
        where.append("nip = ?")
        params.append(nip)
    rows = db.query(f"SELECT * FROM certificates WHERE {' AND '.join(where)} ORDER BY not_after DESC, id DESC",
                    params)
    return [_certificate(r) for r in rows]


def login_certificate(db: sqlite_utils.Database, environment: str, nip: str | None,
                      now: datetime | None = None) -> StoredCertificate | None:
    """The certificate to log in with now: valid, a KSeF one before a qualified one, the longest valid."""
    if not nip:
        return None
    moment = now or utc_now()
    usable = [c for c in listed(db, environment, nip) if c.usage == LOGIN and c.is_valid_at(moment)]
    usable.sort(key=lambda c: (ORIGIN_PRIORITY[c.origin], -c.not_after.timestamp()))
    return usable[0] if usable else None


def offline_certificate(db: sqlite_utils.Database, environment: str, nip: str | None,
                        now: datetime | None = None) -> StoredCertificate | None:
    """The KSeF Offline certificate valid now for KOD II, the longest valid first."""
    if not nip:
        return None
    moment = now or utc_now()
    return next((c for c in listed(db, environment, nip)
                 if c.usage == OFFLINE_USE and c.ksef_type == "Offline" and c.is_valid_at(moment)), None)


def private_key(secrets: SecretStore, certificate: StoredCertificate) -> PrivateKey | None:
    """The certificate's key from the secret store, or None when it is not there."""
    pem = secrets.get(certificate.key_secret)
    return serialization.load_pem_private_key(pem.encode("ascii"), None) if pem else None  # type: ignore[return-value]


def set_state(db: sqlite_utils.Database, certificate_id: int, state: str, now: datetime,
              replaced_by: int | None = None) -> None:
    """Retire (a successor took over, or the user removed it) or mark revoked; the row stays as history."""
    with dbmod.write(db):
        db.execute("UPDATE certificates SET state = ?, replaced_by = COALESCE(?, replaced_by), updated_at = ?"
                   " WHERE id = ?", [state, replaced_by, iso(now), certificate_id])


def signer(db: sqlite_utils.Database, secrets: SecretStore, environment: str, nip: str | None, *,
           now: datetime | None = None) -> OfflineSigner | None:
    """The KOD II signer: the valid Offline certificate of this environment and NIP with its key, or None."""
    found = offline_certificate(db, environment, nip, now)
    if found is None:
        return None
    key = private_key(secrets, found)
    return OfflineSigner(found.serial, key, "Nip", nip or "") if key is not None else None


# -- requests for KSeF certificates in flight -------------------------------------------------------------

def new_request(db: sqlite_utils.Database, secrets: SecretStore, *, environment: str, nip: str, ksef_type: str,
                name: str, key: PrivateKey, now: datetime, replaces: int | None = None) -> int:
    """Keep the new key (secret store) and the request (table) before KSeF hears of it."""
    row = {"environment": environment, "nip": nip, "ksef_type": ksef_type, "name": name, "key_secret": "",
           "state": "new", "replaces": replaces, "created_at": iso(now), "updated_at": iso(now)}
    with dbmod.write(db):
        request_id = db.execute(f"INSERT INTO certificate_requests ({', '.join(row)})"
                                f" VALUES ({', '.join(':' + k for k in row)})", row).lastrowid
    secret = f"certificate-request-key/{request_id}"
    secrets.set(secret, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode("ascii"))
    update_request(db, request_id, now, key_secret=secret)
    return request_id


def update_request(db: sqlite_utils.Database, request_id: int, now: datetime, **fields: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    with dbmod.write(db):
        db.execute(f"UPDATE certificate_requests SET {assignments}, updated_at = :updated_at WHERE id = :id",
                   {**fields, "updated_at": iso(now), "id": request_id})


def request(db: sqlite_utils.Database, request_id: int) -> dict[str, Any]:
    return next(db.query("SELECT * FROM certificate_requests WHERE id = ?", [request_id]))


def open_requests(db: sqlite_utils.Database, environment: str, nip: str) -> list[dict[str, Any]]:
    """Requests not finished yet (new or submitted), oldest first."""
    return list(db.query("SELECT * FROM certificate_requests WHERE environment = ? AND nip = ?"
                         " AND state IN ('new', 'submitted') ORDER BY id", [environment, nip]))


def request_key(secrets: SecretStore, request: dict[str, Any]) -> PrivateKey | None:
    pem = secrets.get(request["key_secret"]) if request["key_secret"] else None
    return serialization.load_pem_private_key(pem.encode("ascii"), None) if pem else None  # type: ignore[return-value]
