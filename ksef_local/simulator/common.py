"""Shared pieces of the simulator: options, errors, identifiers, times and its JWTs."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from ksef_local.clock import utc_now
from ksef_local.ksef.ksef_number import make_ksef_number, with_checksum
from ksef_local.simulator.keys import SimKey, generate_keys
from ksef_local.simulator.store import MemoryStore

WARSAW = ZoneInfo("Europe/Warsaw")  # calendar days of P_1 and offline classification (docs/ksef-protocol.md §13.4)


@dataclass
class SimulatorOptions:
    """Everything that varies between simulator runs; the clock is injectable for tests."""

    host: str = "127.0.0.1"
    port: int = 8765
    limits: str = "prod"          # "prod" (PRD table, ksef-docs limity/limity-api.md) or "off"
    processing_ms: int = 1000     # delay from 100 to the final invoice/session status
    state_file: str | None = None
    check_nip: bool = False       # NIP checksums, as on PRD only (ksef-docs faktury/weryfikacja-faktury.md)
    clock: Callable[[], datetime] = utc_now
    keys: dict[str, SimKey] | None = field(default=None, repr=False)
    seed: int | None = None
    access_token_minutes: int = 15    # OpenAPI example exp-iat = 900 s (docs/ksef-protocol.md §2.1)
    auth_token_minutes: int = 45
    refresh_token_days: int = 7
    session_hours: int = 12
    xades_delay_ms: int | None = None     # how long status 100 lasts for non-KSeF certificates; None = processing_ms
    tokens_until: date | None = None      # last Warsaw day on which KSeF tokens log in (tokens.py)
    tokens_refusal: str = "403"           # how token logins are refused afterwards: "403", "450" or "21301"
    ksef_certificate_days: int = 730      # validity of issued KSeF certificates (observed: two years)
    storage_ms: int | None = None         # acceptance → permanent storage, and the HWM's lag; None = processing_ms
    result_cap: int = 10_000              # metadata query results and export package invoices (OpenAPI: 10 000)
    export_part_bytes: int = 50_000_000   # export package parts (OpenAPI: "maksymalnym rozmiarze 50 MB")


class SimError(Exception):
    """An answer other than success: HTTP status plus KSeF exception code or problem fields."""

    def __init__(self, http_status: int, code: int | None = None, description: str = "",
                 details: list[str] | None = None, reason_code: str | None = None,
                 security: dict | None = None, detail: str | None = None) -> None:
        super().__init__(description or detail or str(http_status))
        self.http_status = http_status
        self.code = code
        self.description = description
        self.details = details or []
        self.reason_code = reason_code
        self.security = security
        self.detail = detail


def bad_request(code: int, description: str, *details: str) -> SimError:
    return SimError(400, code, description, list(details))


def invalid(*details: str) -> SimError:
    """21405: the request failed input validation (OpenAPI 400 tables; docs/ksef-protocol.md §7)."""
    return bad_request(21405, "Błąd walidacji danych wejściowych.", *details)


def unauthorized() -> SimError:
    return SimError(401, detail="Wymagane jest uwierzytelnienie.")


def iso(moment: datetime) -> str:
    """Return an RFC 3339 date-time with offset and milliseconds."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def warsaw_day(moment: datetime) -> date:
    return moment.astimezone(WARSAW).date()


class SimContext:
    """The simulator's shared state: options, store, keys, random source, one lock."""

    def __init__(self, options: SimulatorOptions, store: MemoryStore) -> None:
        self.options = options
        self.store = store
        self.lock = threading.RLock()
        self.random = random.Random(options.seed)
        self.keys = options.keys or self._load_or_make_keys()
        self.secret = self._load_or_make_secret()

    def now(self) -> datetime:
        return self.options.clock()

    @property
    def delay(self) -> timedelta:
        return timedelta(milliseconds=self.options.processing_ms)

    @property
    def storage_delay(self) -> timedelta:
        """From acceptance to permanent storage (received.py)."""
        ms = self.options.storage_ms
        return self.delay if ms is None else timedelta(milliseconds=ms)

    def hex(self, length: int) -> str:
        return "".join(self.random.choice("0123456789ABCDEF") for _ in range(length))

    def reference(self, infix: str) -> str:
        """Return a 36-char reference number YYYYMMDD-XX-10hex-10hex-CRC (docs/ksef-protocol.md §3.5)."""
        return with_checksum(f"{self.now():%Y%m%d}-{infix}-{self.hex(10)}-{self.hex(10)}")

    def ksef_number(self, nip: str, day: date) -> str:
        return make_ksef_number(nip, day, self.hex(12))

    def sign(self, text: str) -> str:
        digest = hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def issue_jwt(self, claims: dict, lifetime: timedelta) -> tuple[str, datetime]:
        """Return an HS256 JWT (opaque to clients, docs/ksef-protocol.md §13.11) and its validUntil."""
        now = self.now()
        until = now + lifetime
        body = dict(claims, jti=self.hex(16), iat=int(now.timestamp()), exp=int(until.timestamp()),
                    iss="ksef-local-simulator")
        head = _b64url_json({"alg": "HS256", "typ": "JWT"})
        payload = _b64url_json(body)
        return f"{head}.{payload}.{self.sign(f'{head}.{payload}')}", until

    def read_jwt(self, token: str | None, kind: str) -> dict:
        """Return the claims of a valid, unexpired JWT of this kind; else raise 401."""
        try:
            head, payload, signature = (token or "").split(".")
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError as exc:
            raise unauthorized() from exc
        if not hmac.compare_digest(signature, self.sign(f"{head}.{payload}")):
            raise unauthorized()
        if claims.get("typ") != kind or claims.get("exp", 0) <= self.now().timestamp():
            raise unauthorized()
        return claims

    def _load_or_make_keys(self) -> dict[str, SimKey]:
        stored = self.store.get("meta", "keys")
        if stored:
            return {doc["usage"]: SimKey.from_pem(doc) for doc in stored["keys"]}
        keys = generate_keys(self.now())
        self.store.put("meta", "keys", {"keys": [key.to_pem() for key in keys.values()]})
        return keys

    def _load_or_make_secret(self) -> bytes:
        stored = self.store.get("meta", "secret")
        if stored:
            return bytes.fromhex(stored["hex"])
        secret = bytes(self.random.getrandbits(8) for _ in range(32))
        self.store.put("meta", "secret", {"hex": secret.hex()})
        return secret


def _b64url_json(value: dict) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
