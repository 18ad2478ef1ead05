"""Helpers for the purchase-invoice tests: an FA(3) invoice from another company with payment terms, and the
InvoiceMetadata KSeF would give it.

Import explicitly: `from tests.purchase_support import ...`.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from ksef_local.core.model import Invoice, Line, Party, Payment
from ksef_local.fa3 import build_xml
from ksef_local.ksef import crypto

BUYER_NIP = "5261040828"   # tests/conftest.py COMPANY_FORM
SELLER = Party(name="Łódzka Hurtownia Papieru Sp. z o.o.", nip="7740001454", address_l1="ul. Piotrkowska 1",
               address_l2="90-001 Łódź")
ACCOUNT = "61109010140000071219812874"
RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def purchase_xml(number: str = "FV/1/11/2026", *, seller: Party = SELLER, buyer_nip: str = BUYER_NIP,
                 issued: date = date(2026, 11, 20), lines: tuple[tuple[str, str, str, str], ...] = (
                     ("Papier A4", "10", "21.50", "23"), ("Katalog", "2", "18.90", "5")),
                 pay_days: int | None = 14, paid: bool = False) -> bytes:
    """A valid FA(3) invoice of seller to the buyer, with a due date and bank account (or paid already)."""
    payment = Payment(form="6", due_date=issued + timedelta(days=pay_days) if pay_days else None,
                      bank_account=ACCOUNT, paid=paid, paid_date=issued if paid else None)
    return build_xml(Invoice(
        kind="VAT", number=number, issue_date=issued, seller=seller,
        buyer=Party(name="Piekarnia Zażółć Sp. z o.o.", nip=buyer_nip, address_l1="ul. Kwiatowa 1"),
        lines=tuple(Line(name=name, unit="szt.", quantity=Decimal(q), unit_price=Decimal(p), rate=r)
                    for name, q, p, r in lines),
        created_at=datetime.combine(issued, datetime.min.time(), tzinfo=timezone.utc), sale_date=issued,
        payment=payment))


def metadata_for(xml: bytes, ksef_number: str, *, received: datetime = RECEIVED, number: str = "FV/1/11/2026",
                 seller_nip: str = "7740001454") -> dict:
    """The InvoiceMetadata KSeF would give for xml (only the fields the program reads)."""
    stored = received + timedelta(seconds=5)
    return {"ksefNumber": ksef_number, "invoiceNumber": number, "issueDate": "2026-11-20",
            "invoicingDate": received.isoformat(), "acquisitionDate": received.isoformat(),
            "permanentStorageDate": stored.isoformat(), "seller": {"nip": seller_nip, "name": "Hurtownia"},
            "invoiceHash": crypto.sha256_b64(xml), "grossAmount": 0, "currency": "PLN"}


def ksef_number(n: int, nip: str = "7740001454") -> str:
    """A KSeF number of the official shape (the check part is not verified by the program)."""
    return f"{nip}-20261120-{n:06X}{n:06X}-{n % 256:02X}"


def busy(sender, db, now: datetime) -> bool:
    """Whether the purchase sync still has work it will do without a new interval: an export, a cycle under
    way or a download due (failed downloads wait for their retry time and do not count)."""
    if sender.purchases.export.active:
        return True
    if db.execute("SELECT 1 FROM purchase_sync WHERE cycle_started_at IS NOT NULL AND (cycle_done_at IS NULL"
                  " OR cycle_done_at < cycle_started_at)").fetchone():
        return True
    from ksef_local.store.db import iso
    return db.execute("SELECT 1 FROM purchase_downloads WHERE error_title IS NULL AND next_attempt_at <= ?",
                      [iso(now)]).fetchone() is not None


def settle(sender, clock, *, idle_step: float = 5.0, max_steps: int = 50_000, stop=None) -> int:
    """Run the sender until the purchase sync has nothing left to do now; move the fake clock when it waits."""
    db = sender.databases.get()
    first = True
    for steps in range(max_steps):
        if stop is not None and stop():
            return steps
        if sender.run_once():
            first = False
            continue
        if not first and not busy(sender, db, clock()):
            return steps
        first = False
        clock.advance(idle_step)
    raise AssertionError(f"the purchase sync did not settle in {max_steps} steps")


def stored(db) -> dict[str, bytes]:
    """KSeF number → the stored bytes of every purchase."""
    return {r[0]: bytes(r[1]) for r in db.execute("SELECT ksef_number, xml FROM purchases")}


# -- a purchase sync in a subprocess (for the kill -9 test): python -m tests.purchase_support DB URL TOKEN NIP N --

def _subprocess_main(db_path: str, base_url: str, token: str, nip: str, export_above: str) -> None:
    import threading
    from pathlib import Path

    from ksef_local.ksef.auth import TokenCredentials
    from ksef_local.ksef.client import KsefClient
    from ksef_local.ksef.environments import custom
    from ksef_local.sending import Sender
    from ksef_local.store import ksef_state
    from ksef_local.store.db import Databases

    generous = {group: (1000, 100000, 1000000) for group in ksef_state.PRD_LIMITS}
    sender = Sender(Databases(Path(db_path)),
                    lambda: KsefClient(custom(base_url), TokenCredentials(nip, token), timeout=5.0, poll_interval=0.05),
                    poll_interval=0.05, busy_wait=0.02, idle_wait=0.05, limits=generous, purchases=True,
                    purchase_options={"export_above": int(export_above)})
    sender.start()
    threading.Event().wait()   # until killed


if __name__ == "__main__":
    import sys

    _subprocess_main(*sys.argv[1:6])
