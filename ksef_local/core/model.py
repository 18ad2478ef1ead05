"""The invoice as a document: plain dataclasses shared by the database layer, the editor and the fa3 package.

Nothing here touches the database or XML. Amounts are Decimal; dates are ``datetime.date``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from ksef_local.core import money


class InvoiceKind(StrEnum):
    """RodzajFaktury of the invoices ksef-local issues (FA(3) element RodzajFaktury)."""

    VAT = "VAT"
    KOR = "KOR"


class OutboxState(StrEnum):
    """Where one attempt to send an invoice to KSeF stands (store/outbox.py explains each state)."""

    QUEUED = "queued"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    ACCEPTED = "accepted"
    DONE = "done"
    REJECTED = "rejected"


class OfflineKind(StrEnum):
    """The offline modes of the VAT act (art. 106nda, 106nh, 106nf; docs/ksef-protocol.md §9)."""

    OFFLINE24 = "offline24"
    OFFLINE = "offline"
    AWARYJNY = "awaryjny"
    AWARIA_CALKOWITA = "awaria_calkowita"


# Kinds of buyer (Kontrahent). The FA(3) identifier follows from the kind (docs/fa3-notes.md §2.3).
BUYER_KINDS = {
    "company": "Firma polska (NIP)",
    "consumer": "Osoba prywatna (konsument)",
    "eu": "Firma z UE (VAT UE)",
    "foreign": "Firma spoza UE",
}

# Invoice kinds handled now; ZAL/ROZ/KOR_ZAL/KOR_ROZ later slot in here and in the fa3 package.
INVOICE_KINDS = {
    InvoiceKind.VAT: "Faktura VAT",
    InvoiceKind.KOR: "Faktura korygująca",
}

# FormaPlatnosci codes (FA(3) XSD type TFormaPlatnosci).
PAYMENT_FORMS = {
    "6": "Przelew",
    "1": "Gotówka",
    "2": "Karta",
    "7": "Płatność mobilna",
    "3": "Bon",
    "4": "Czek",
    "5": "Kredyt",
}
CASH = "1"  # a cash payment: no bank account, no term unless one is given (docs/fa3-notes.md §7.1)

# The basis of a VAT exemption: P_19A (Polish act), P_19B (EU directive), P_19C (other).
EXEMPTION_KINDS = {
    "A": "Przepis ustawy albo aktu wydanego na jej podstawie",
    "B": "Przepis dyrektywy 2006/112/WE",
    "C": "Inna podstawa prawna",
}

# TypKorekty (FA(3) XSD type TTypKorekty).
CORRECTION_TYPES = {
    "": "Nie podano",
    "1": "W dacie ujęcia faktury pierwotnej",
    "2": "W dacie wystawienia faktury korygującej",
    "3": "W innej dacie",
}


@dataclass(frozen=True)
class Party:
    """A seller or buyer as printed on the invoice (a snapshot, not a live record)."""

    name: str
    kind: str = "company"
    nip: str | None = None
    country: str = "PL"
    vat_eu: str | None = None  # the number without its country prefix
    tax_id: str | None = None
    address_l1: str = ""
    address_l2: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Line(money.LineInput):
    """One invoice line as entered; ``before`` marks the pre-correction state of a KOR line."""

    before: bool = False


@dataclass(frozen=True)
class Payment:
    """Payment terms (Platnosc)."""

    form: str | None = None  # a PAYMENT_FORMS code
    due_date: date | None = None
    bank_account: str | None = None
    paid: bool = False
    paid_date: date | None = None


@dataclass(frozen=True)
class Correction:
    """What a correcting invoice (KOR) corrects (DaneFaKorygowanej and the reason)."""

    number: str
    issue_date: date
    ksef_number: str
    reason: str | None = None
    type: str | None = None  # a CORRECTION_TYPES code


@dataclass(frozen=True)
class Invoice:
    """An invoice document: everything the fa3 package needs to write FA(3) XML."""

    kind: str
    number: str
    issue_date: date
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    created_at: datetime  # DataWytworzeniaFa, timezone-aware
    sale_date: date | None = None
    place: str | None = None
    price_mode: str = "net"
    currency: str = "PLN"
    exchange_rate: Decimal | None = None
    exchange_rate_date: date | None = None
    payment: Payment = field(default_factory=Payment)
    notes: str | None = None
    exemption_kind: str | None = None
    exemption_text: str | None = None
    split_payment: bool = False
    correction: Correction | None = None

    @property
    def is_foreign_currency(self) -> bool:
        return self.currency != "PLN"

    def _rate_for_pln(self) -> Decimal | None:
        return self.exchange_rate if self.is_foreign_currency else None

    def totals_after(self) -> money.Totals:
        """Totals of the lines as they stand (after the correction, for a KOR)."""
        return money.compute_totals(
            [ln for ln in self.lines if not ln.before], self.price_mode, self._rate_for_pln()
        )

    def totals_before(self) -> money.Totals:
        """Totals of the pre-correction lines (empty for a VAT invoice)."""
        return money.compute_totals(
            [ln for ln in self.lines if ln.before], self.price_mode, self._rate_for_pln()
        )

    def totals(self) -> money.Totals:
        """The invoice's amounts: the totals, or for a KOR the difference after − before."""
        if self.kind == "KOR":
            return money.difference(self.totals_after(), self.totals_before())
        return self.totals_after()
