"""Purchase invoices for the demo mode (POST /sim/demo-purchases, simulator only; docs/simulator.md).

A few realistic invoices from Polish-looking sellers to the demo company: lines at several VAT rates, a bank
account and a due date, some from earlier months and one from the current month. Made once per buyer: the
demo mode keeps the simulator's state in a file, so a restart finds them and adds nothing. The sellers are
invented; their NIPs and account numbers only have valid check digits.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from ksef_local.core.model import Invoice, Line, Party, Payment
from ksef_local.fa3 import build_xml
from ksef_local.simulator import deliveries
from ksef_local.simulator.common import WARSAW, SimContext, SimError, invalid, warsaw_day
from ksef_local.simulator.invoices import read_facts, xml_problems

KIND = "demo-purchases"
SELLERS = {
    "biurex": Party(name="Biurex Hurtownia Papiernicza Sp. z o.o.", nip="6772345191", address_l1="ul. Długa 15",
                    address_l2="31-147 Kraków"),
    "netserwis": Party(name="NetSerwis Usługi Informatyczne Tomasz Zieliński", nip="9462631745",
                       address_l1="ul. Półwiejska 28/4", address_l2="61-888 Poznań"),
    "kolor": Party(name="Drukarnia Offsetowa Kolor S.A.", nip="8982174058", address_l1="ul. Włókiennicza 102",
                   address_l2="90-213 Łódź"),
    "kasek": Party(name="Catering Smaczny Kąsek Małgorzata Lis", nip="6340123986", address_l1="ul. Mariacka 9",
                   address_l2="40-014 Katowice"),
}
ACCOUNTS = {"biurex": "85102010550000961201234567", "netserwis": "50116022020000000345678901",
            "kolor": "20105012141000009031234509", "kasek": "79124010371111001012345678"}
# (seller, days before now (None: this month), days to pay, lines: name, unit, quantity, net unit price, rate)
PLAN = (
    ("biurex", 74, 14, (("Papier ksero A4 80 g", "ryza", "10", "21.50", "23"),
                        ("Toner do drukarki laserowej, czarny", "szt.", "2", "289.00", "23"),
                        ("Segregator A4 75 mm", "szt.", "12", "8.90", "23"))),
    ("netserwis", 43, 7, (("Abonament hostingowy - 12 miesięcy", "usł.", "1", "588.00", "23"),
                          ("Odnowienie domeny .pl na rok", "usł.", "1", "49.00", "23"))),
    ("kolor", 18, 21, (("Ulotki A5 kolorowe, 1000 szt.", "nakład", "2", "240.00", "23"),
                       ("Katalog produktów (wydawnictwo z ISBN)", "egz.", "50", "18.90", "5"))),
    ("kasek", None, 14, (("Obiad firmowy - zestaw dnia", "szt.", "12", "38.00", "8"),
                         ("Napoje zimne 0,5 l", "szt.", "12", "6.50", "23"))),
)


def demo_purchases(ctx: SimContext, body) -> tuple[dict, bool]:
    """POST /sim/demo-purchases {"buyerNip", "buyerName"?} → (summary, whether made now)."""
    if not isinstance(body, dict):
        raise invalid("Treść musi być obiektem JSON z polem 'buyerNip'.")
    buyer_nip = str(body.get("buyerNip") or "")
    if len(buyer_nip) != 10 or not buyer_nip.isdigit():
        raise invalid(f"Pole 'buyerNip' musi zawierać NIP (10 cyfr): {buyer_nip!r}.")
    made = ctx.store.get(KIND, buyer_nip)
    if made is not None:
        return made, False
    buyer = Party(name=str(body.get("buyerName") or "Firma demonstracyjna"), nip=buyer_nip)
    now = ctx.now()
    invoices = []
    with ctx.store.batch():
        for ordinal, (seller_key, days, pay_days, lines) in enumerate(PLAN, start=1):
            accepted = _this_month(now) if days is None else now - timedelta(days=days)
            invoice = _invoice(seller_key, buyer, accepted, pay_days, lines, ordinal)
            xml = build_xml(invoice)
            problems = xml_problems(xml)
            if problems:
                raise SimError(500, detail=f"Faktura demonstracyjna jest niezgodna ze schemą FA(3): {problems[0]}")
            record = deliveries.accept(ctx, xml, read_facts(xml), accepted)
            metadata = record["metadata"]
            invoices.append({key: metadata[key] for key in ("ksefNumber", "invoiceNumber", "issueDate",
                                                             "grossAmount", "currency", "acquisitionDate")}
                            | {"sellerNip": metadata["seller"]["nip"], "sellerName": metadata["seller"]["name"]})
        made = {"buyerNip": buyer_nip, "invoices": invoices}
        ctx.store.put(KIND, buyer_nip, made)
    return made, True


def _this_month(now: datetime) -> datetime:
    """Two hours ago, or the month's first moment when that would fall in the previous month (Warsaw)."""
    local = now.astimezone(WARSAW)
    month_start = datetime.combine(local.date().replace(day=1), time(0, 0), tzinfo=WARSAW)
    return max(now - timedelta(hours=2), month_start)


def _invoice(seller_key: str, buyer: Party, accepted: datetime, pay_days: int, lines: tuple,
             ordinal: int) -> Invoice:
    issued = warsaw_day(accepted)
    # Numbers differ per buyer, so two demo companies never collide on a seller's business key (440).
    serial = int(buyer.nip or "0") % 9_000 + 100 * ordinal
    return Invoice(
        kind="VAT", number=f"FV/{serial}/{issued:%m/%Y}", issue_date=issued, seller=SELLERS[seller_key], buyer=buyer,
        lines=tuple(Line(name=name, unit=unit, quantity=Decimal(quantity), unit_price=Decimal(price), rate=rate)
                    for name, unit, quantity, price, rate in lines),
        created_at=accepted - timedelta(minutes=5), sale_date=issued, place=SELLERS[seller_key].address_l2[7:],
        payment=Payment(form="6", due_date=issued + timedelta(days=pay_days), bank_account=ACCOUNTS[seller_key]),
    )
