"""Simulator-only deliveries of purchase invoices (not part of KSeF; docs/simulator.md): an invoice is
accepted as if its seller had sent it, with no seller session behind it.

POST /sim/invoices takes one FA(3) invoice and checks it as processing.py checks a sent one (430, 450, 440);
POST /sim/invoices/bulk generates many valid ones quickly for benchmarks (a text template, not the FA(3)
builder: 10,000 invoices must take seconds).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from ksef_local.ksef import crypto
from ksef_local.simulator import received
from ksef_local.simulator.common import SimContext, SimError, invalid, parse_iso, warsaw_day
from ksef_local.simulator.invoices import InvoiceFacts, is_valid_nip, read_facts, xml_problems
from ksef_local.simulator.processing import (
    INVOICE_TEXTS,
    MAX_DETAILS,
    duplicate_status,
    remember_accepted,
    semantic_problems,
)

MAX_BULK = 100_000
DEFAULT_SELLERS = (("7792411081", "Hurtownia Elektryczna Iskra Sp. z o.o."),
                   ("7251908367", "Transport Drogowy Nowak i Syn Sp. j."),
                   ("8513082243", "Biuro Rachunkowe Bilans s.c."),
                   ("1132845605", "Zakład Poligraficzny Druk-Pol Sp. z o.o."),
                   ("5242716354", "Serwis Komputerowy Bajt Anna Wójcik"))
RATES = (("23", Decimal("0.23"), "P_13_1", "P_14_1"), ("8", Decimal("0.08"), "P_13_2", "P_14_2"),
         ("5", Decimal("0.05"), "P_13_3", "P_14_3"))


class Refused(SimError):
    """An invoice KSeF would not accept: HTTP 422 with the invoice status KSeF would give (430, 450, 440)."""

    def __init__(self, status: dict) -> None:
        super().__init__(422, detail=status["description"])
        self.status = status


def deliver(ctx: SimContext, body) -> dict:
    """POST /sim/invoices {"xml": Base64, "acceptedAt"?, "offlineMode"?} → the accepted invoice's metadata."""
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        raise invalid("Pole 'xml' jest wymagane (faktura FA(3) w Base64).")
    try:
        xml = crypto.unb64(body["xml"])
    except crypto.CryptoError as exc:
        raise invalid("Pole 'xml' musi być zakodowane w Base64.") from exc
    accepted = _moment(ctx, body.get("acceptedAt"), "acceptedAt") or ctx.now()
    offline = body.get("offlineMode", False)
    if not isinstance(offline, bool):
        raise invalid("Pole 'offlineMode' musi być wartością logiczną.")
    problems = xml_problems(xml)
    if problems:
        raise Refused(_status(430, problems))
    return accept(ctx, xml, read_facts(xml), accepted, offline)["metadata"]


def accept(ctx: SimContext, xml: bytes, facts: InvoiceFacts, accepted: datetime, offline: bool = False) -> dict:
    """Accept a well-formed FA(3) invoice at that moment: business checks, KSeF number, index; return its record."""
    day = warsaw_day(accepted)
    problems = semantic_problems(ctx, facts, day)
    if problems:
        raise Refused(_status(450, problems))
    duplicate = duplicate_status(ctx, facts)
    if duplicate is not None:
        raise Refused(duplicate)
    ksef_number = ctx.ksef_number(facts.seller_nip, day)
    offline = offline or (facts.issue_date is not None and facts.issue_date < day)  # docs/ksef-protocol.md §9
    remember_accepted(ctx, facts, ksef_number, None, None)
    return received.index_invoice(ctx, xml, ksef_number=ksef_number, invoicing=accepted, acquisition=accepted,
                                  mode="Offline" if offline else "Online")


def _status(code: int, details: list[str]) -> dict:
    return {"code": code, "description": INVOICE_TEXTS[code], "details": details[:MAX_DETAILS]}


def _moment(ctx: SimContext, value, name: str) -> datetime | None:
    """An ISO 8601 moment with a time zone, not later than the simulator's clock."""
    if value is None:
        return None
    try:
        moment = parse_iso(str(value))
    except ValueError as exc:
        raise invalid(f"Pole '{name}' musi być datą i czasem ISO 8601 ze strefą czasową.") from exc
    if moment.tzinfo is None:
        raise invalid(f"Pole '{name}' musi zawierać strefę czasową.")
    if moment > ctx.now():
        raise invalid(f"Pole '{name}' nie może być późniejsze niż bieżący czas symulatora.")
    return moment


# -- bulk ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BulkPlan:
    count: int
    buyer_nip: str
    sellers: tuple[tuple[str, str], ...]
    start: datetime
    end: datetime
    seed: int | None


def deliver_bulk(ctx: SimContext, body) -> dict:
    """POST /sim/invoices/bulk: N valid invoices to one buyer, accepted evenly over [from, to]."""
    plan = _bulk_plan(ctx, body)
    rng = random.Random(plan.seed)
    batch = ctx.hex(6)
    step = (plan.end - plan.start) / plan.count
    numbers = []
    with ctx.store.batch():
        for index in range(plan.count):
            accepted = plan.start + step * (index + 1)
            seller = plan.sellers[index % len(plan.sellers)]
            facts = InvoiceFacts(seller[0], "VAT", f"SIM/{batch}/{index + 1}", warsaw_day(accepted), plan.buyer_nip)
            xml = bulk_invoice_xml(facts, seller[1], accepted, rng)
            if index == 0 and xml_problems(xml):  # the template is checked once per run, not 10,000 times
                raise SimError(500, detail="Szablon faktury symulatora jest niezgodny ze schemą FA(3).")
            numbers.append(accept(ctx, xml, facts, accepted)["metadata"]["ksefNumber"])
    return {"count": plan.count, "buyerNip": plan.buyer_nip, "from": plan.start.isoformat(),
            "to": plan.end.isoformat(), "ksefNumbers": numbers}


def _bulk_plan(ctx: SimContext, body) -> BulkPlan:
    if not isinstance(body, dict):
        raise invalid("Treść musi być obiektem JSON z polami count i buyerNip.")
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_BULK:
        raise invalid(f"Pole 'count' musi być liczbą od 1 do {MAX_BULK}.")
    buyer = _nip(ctx, body.get("buyerNip"), "buyerNip")
    sellers = body.get("sellers") or [{"nip": nip, "name": name} for nip, name in DEFAULT_SELLERS]
    if not isinstance(sellers, list):
        raise invalid("Pole 'sellers' musi być listą NIP-ów albo obiektów {nip, name}.")
    parsed = tuple((_nip(ctx, s.get("nip") if isinstance(s, dict) else s, "sellers"),
                    str(s.get("name") or f"Sprzedawca {s.get('nip')}") if isinstance(s, dict) else f"Sprzedawca {s}")
                   for s in sellers)
    end = _moment(ctx, body.get("to"), "to") or ctx.now()
    start = _moment(ctx, body.get("from"), "from") or end - timedelta(days=30)
    if start >= end:
        raise invalid("Pole 'from' musi być wcześniejsze niż 'to'.")
    seed = body.get("seed")
    return BulkPlan(count, buyer, parsed, start, end, seed if isinstance(seed, int) else None)


def _nip(ctx: SimContext, value, name: str) -> str:
    nip = str(value or "")
    if len(nip) != 10 or not nip.isdigit() or (ctx.options.check_nip and not is_valid_nip(nip)):
        raise invalid(f"Pole '{name}' musi zawierać NIP (10 cyfr): {nip!r}.")
    return nip


def bulk_invoice_xml(facts: InvoiceFacts, seller_name: str, accepted: datetime, rng: random.Random) -> bytes:
    """Return a small valid FA(3) invoice with one line at 23, 8 or 5 percent."""
    rate, factor, net_field, vat_field = rng.choice(RATES)
    net = (Decimal(rng.randint(1_000, 500_000)) / 100).quantize(Decimal("0.01"))
    vat = (net * factor).quantize(Decimal("0.01"))
    day = facts.issue_date.isoformat()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>
<WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{accepted.strftime('%Y-%m-%dT%H:%M:%SZ')}</DataWytworzeniaFa>
<SystemInfo>symulator ksef-local</SystemInfo></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>{facts.seller_nip}</NIP><Nazwa>{escape(seller_name)}</Nazwa></DaneIdentyfikacyjne>
<Adres><KodKraju>PL</KodKraju><AdresL1>ul. Fabryczna 7, 90-001 Łódź</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>{facts.buyer_nip}</NIP><Nazwa>Nabywca {facts.buyer_nip}</Nazwa>
</DaneIdentyfikacyjne><JST>2</JST><GV>2</GV></Podmiot2>
<Fa><KodWaluty>PLN</KodWaluty><P_1>{day}</P_1><P_2>{escape(facts.number)}</P_2>
<{net_field}>{net}</{net_field}><{vat_field}>{vat}</{vat_field}><P_15>{net + vat}</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie>
<NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy>
</Adnotacje><RodzajFaktury>VAT</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Towar handlowy</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>{net}</P_9A>
<P_11>{net}</P_11><P_12>{rate}</P_12></FaWiersz>
</Fa></Faktura>
""".encode("utf-8")
