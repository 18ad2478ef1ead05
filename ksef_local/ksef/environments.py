"""KSeF environments: API, QR-verification and Latarnia hosts (docs/ksef-protocol.md §1, §1.1)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Environment:
    """Where one KSeF environment lives; every URL is without a trailing slash."""

    name: str
    api_base: str
    qr_base: str
    latarnia_base: str | None


# CIRFMF/ksef-docs srodowiska.md, kody-qr.md; ksef-client-csharp KsefEnviromentsUris.cs, LighthouseEnvironmentsUris.cs.
TEST = Environment(
    "TEST",
    "https://api-test.ksef.mf.gov.pl/v2",
    "https://qr-test.ksef.mf.gov.pl",
    "https://api-latarnia-test.ksef.mf.gov.pl",
)
# DEMO has no published Latarnia (ksef-client-csharp LighthouseEnvironmentsUris.cs has TEST and PROD only).
DEMO = Environment("DEMO", "https://api-demo.ksef.mf.gov.pl/v2", "https://qr-demo.ksef.mf.gov.pl", None)
PROD = Environment(
    "PROD",
    "https://api.ksef.mf.gov.pl/v2",
    "https://qr.ksef.mf.gov.pl",
    "https://api-latarnia.ksef.mf.gov.pl",
)

_BY_NAME = {env.name: env for env in (TEST, DEMO, PROD)}


def custom(base_url: str, name: str = "SIM") -> Environment:
    """Return an environment rooted at any base URL (the simulator): API under /v2 like KSeF."""
    root = base_url.rstrip("/")
    return Environment(name, f"{root}/v2", root, f"{root}/latarnia")


def resolve(value: str | Environment) -> Environment:
    """Return the environment for "TEST"/"DEMO"/"PROD" (any case), an http(s) base URL, or pass one through."""
    if isinstance(value, Environment):
        return value
    named = _BY_NAME.get(value.strip().upper())
    if named is not None:
        return named
    if value.startswith(("http://", "https://")):
        return custom(value)
    raise ValueError(f"Nieznane środowisko KSeF: {value!r} (dozwolone: TEST, DEMO, PROD albo adres URL)")
