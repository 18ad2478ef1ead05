"""The KSeF settings as a value: the environments a user can choose, the defaults, and the badge text.

Pure: nothing here reads the database or the secret store (store/settings.py does).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEMO_MODE = "demo"
CUSTOM = "custom"
# Form value → label, in the order of the form's list.
ENVIRONMENTS: dict[str, str] = {
    DEMO_MODE: "Tryb demonstracyjny",
    "TEST": "TEST (testowe MF)",
    "DEMO": "DEMO (przedprodukcyjne MF)",
    "PROD": "Produkcyjne – faktury prawnie wiążące",
    CUSTOM: "Własny adres (np. symulator uruchomiony ręcznie)",
}
BADGES = {DEMO_MODE: "Tryb demonstracyjny (symulator)", "TEST": "TEST", "DEMO": "DEMO (przedprodukcyjne MF)",
          "PROD": "PRODUKCJA"}
DEFAULT_ENVIRONMENT = DEMO_MODE
DEFAULT_BATCH_THRESHOLD = 50
BATCH_MIN = 2
BATCH_MAX = 1000
TOKEN_MIN = 20
TOKEN_MAX = 400
URL_MAX = 300


@dataclass(frozen=True)
class KsefSettings:
    """What the Ustawienia KSeF screen shows; never the token itself."""

    environment: str = DEFAULT_ENVIRONMENT
    base_url: str | None = None      # used by "custom" only; kept when switching away
    nip: str | None = None           # the context NIP: the stored one, else the company's
    batch_threshold: int = DEFAULT_BATCH_THRESHOLD
    has_token: bool = False
    token_hint: str = ""             # mask() of the token, for display
    updated_at: str | None = None
    nip_follows_company: bool = True
    token_problem: str | None = None  # a Polish message when the secret store cannot be read

    @property
    def label(self) -> str:
        return ENVIRONMENTS[self.environment]

    @property
    def is_production(self) -> bool:
        return self.environment == "PROD"


def describe(settings: KsefSettings) -> str:
    """Return the text of the always-visible environment badge."""
    if settings.environment == CUSTOM:
        host = urlsplit(settings.base_url or "").netloc or "brak adresu"
        return f"Własny serwer KSeF ({host})"
    return BADGES[settings.environment]


def top_badge(settings: KsefSettings) -> tuple[str, str]:
    """Return the top bar's short badge and its title, which names the environment in full.

    The top bar stays on one line in a 1024 px window, so a custom server shows only its host name and the
    whole address waits in the title.
    """
    title = f"Środowisko KSeF: {describe(settings)}"
    if settings.environment == CUSTOM:
        host = urlsplit(settings.base_url or "").hostname or "brak adresu"
        return f"Własny KSeF: {host}", f"Środowisko KSeF: własny serwer {settings.base_url or '(brak adresu)'}"
    if settings.environment == DEMO_MODE:
        return ENVIRONMENTS[DEMO_MODE], f"{title}: faktury nie trafiają do prawdziwego KSeF"
    return BADGES[settings.environment], title


def environment_key(settings: KsefSettings) -> str:
    """Name the KSeF an invoice goes to, for the outbox: demo, TEST, DEMO, PROD or custom:<base URL>."""
    if settings.environment == CUSTOM:
        return f"{CUSTOM}:{settings.base_url or ''}"
    return settings.environment
