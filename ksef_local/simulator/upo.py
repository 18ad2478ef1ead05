"""UPO documents shaped like UPO v4-3 (CIRFMF/ksef-docs faktury/upo/schemy/upo-v4-3.xsd and examples).

The simulator's UPOs are NOT signed (KSeF signs them with XAdES) and say so: the receiving body's name
carries a simulator suffix, as the official TE examples carry "- środowisko testowe (TE)", and a comment
repeats it. They have no legal force.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from ksef_local.ksef import crypto
from ksef_local.simulator.auth import access_claims
from ksef_local.simulator.common import SimContext, SimError, bad_request, parse_iso
from ksef_local.simulator.sessions import READ_STATUS, owned_session

NAMESPACE = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
RECEIVER = "Ministerstwo Finansów - symulator ksef-local (UPO niepodpisane)"
NOTICE = "Symulator ksef-local: to UPO NIE jest podpisane i nie ma mocy prawnej."
NO_UPO = (21178, "Nie znaleziono UPO dla podanych kryteriów.")


def _document(invoice: dict) -> str:
    issue = invoice["issueDate"] or ""
    return (
        "\t<Dokument>\n"
        f"\t\t<NipSprzedawcy>{escape(invoice['sellerNip'])}</NipSprzedawcy>\n"
        f"\t\t<NumerKSeFDokumentu>{invoice['ksefNumber']}</NumerKSeFDokumentu>\n"
        f"\t\t<NumerFaktury>{escape(invoice['number'])}</NumerFaktury>\n"
        f"\t\t<DataWystawieniaFaktury>{issue}</DataWystawieniaFaktury>\n"
        f"\t\t<DataPrzeslaniaDokumentu>{invoice['invoicingDate']}</DataPrzeslaniaDokumentu>\n"
        f"\t\t<DataNadaniaNumeruKSeF>{invoice['acquisition']}</DataNadaniaNumeruKSeF>\n"
        f"\t\t<SkrotDokumentu>{invoice['hash']}</SkrotDokumentu>\n"
        f"\t\t<TrybWysylki>{invoice['mode']}</TrybWysylki>\n"
        "\t</Dokument>\n"
    )


def _authentication(session: dict) -> str:
    """A XAdES login is identified by the SHA-256 of the signed document as received (UPO v4-3
    SkrotDokumentuUwierzytelniajacego), a token login by the token's reference number."""
    if session.get("authDigest"):
        return f"\t\t<SkrotDokumentuUwierzytelniajacego>{session['authDigest']}</SkrotDokumentuUwierzytelniajacego>\n"
    return f"\t\t<NumerReferencyjnyTokenaKSeF>{session['tokenRef']}</NumerReferencyjnyTokenaKSeF>\n"


def build_upo(session: dict, invoices: list[dict], paged: bool) -> bytes:
    """Return UPO XML for the accepted invoices; paged adds OpisPotwierdzenia (session UPO)."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f"<!-- {NOTICE} -->\n",
        f'<Potwierdzenie xmlns="{NAMESPACE}">\n',
        f"\t<NazwaPodmiotuPrzyjmujacego>{RECEIVER}</NazwaPodmiotuPrzyjmujacego>\n",
        f"\t<NumerReferencyjnySesji>{session['reference']}</NumerReferencyjnySesji>\n",
        "\t<Uwierzytelnienie>\n",
        f"\t\t<IdKontekstu>\n\t\t\t<Nip>{session['nip']}</Nip>\n\t\t</IdKontekstu>\n",
        _authentication(session),
        "\t</Uwierzytelnienie>\n",
    ]
    if paged:
        count = len(invoices)
        parts.append("\t<OpisPotwierdzenia>\n\t\t<Strona>1</Strona>\n\t\t<LiczbaStron>1</LiczbaStron>\n"
                     f"\t\t<ZakresDokumentowOd>1</ZakresDokumentowOd>\n\t\t<ZakresDokumentowDo>{count}</ZakresDokumentowDo>\n"
                     f"\t\t<CalkowitaLiczbaDokumentow>{count}</CalkowitaLiczbaDokumentow>\n\t</OpisPotwierdzenia>\n")
    parts.append("\t<NazwaStrukturyLogicznej>Schemat_FA(3)_v1-0E.xsd</NazwaStrukturyLogicznej>\n")
    parts.append(f"\t<KodFormularza>{escape(session['form'][0])}</KodFormularza>\n")
    parts.extend(_document(invoice) for invoice in invoices)
    parts.append("</Potwierdzenie>\n")
    return "".join(parts).encode("utf-8")


def invoice_upo(ctx: SimContext, session: dict, invoice: dict | None) -> bytes:
    if invoice is None or invoice["session"] != session["reference"] or \
            invoice["final"] is None or invoice["final"]["code"] != 200:
        raise bad_request(*NO_UPO)
    return build_upo(session, [invoice], paged=False)


def session_upo(ctx: SimContext, session: dict, upo_ref: str) -> bytes:
    if session["upo"] != upo_ref:
        raise bad_request(*NO_UPO)
    invoices = [ctx.store.get("invoice", ref) for ref in session["invoices"]]
    accepted = [inv for inv in invoices if inv["final"] and inv["final"]["code"] == 200]
    return build_upo(session, accepted, paged=True)


def upo_for_request(ctx: SimContext, bearer: str | None, reference: str, *, invoice_ref: str | None = None,
                    ksef_number: str | None = None, upo_ref: str | None = None) -> bytes:
    """The three authenticated UPO endpoints (docs/ksef-protocol.md §3.8)."""
    claims = access_claims(ctx, bearer, READ_STATUS)
    session = owned_session(ctx, claims, reference)
    if upo_ref is not None:
        return session_upo(ctx, session, upo_ref)
    if ksef_number is not None:
        invoice_ref = next((ref for ref in session["invoices"]
                            if (ctx.store.get("invoice", ref) or {}).get("ksefNumber") == ksef_number), None)
    return invoice_upo(ctx, session, ctx.store.get("invoice", invoice_ref) if invoice_ref else None)


def presigned_upo(ctx: SimContext, session_ref: str, upo_ref: str, expires: str, signature: str) -> bytes:
    """GET of a pre-signed UPO link: no Authorization, but a valid signature and expiry."""
    path = f"/storage/upo/{session_ref}/{upo_ref}"
    if signature != ctx.sign(f"{path}|{expires}") or ctx.now() > parse_iso(expires):
        raise SimError(403, reason_code="insufficient-resource-access", detail="Link wygasł lub jest nieprawidłowy.")
    session = ctx.store.get("session", session_ref)
    if session is None:
        raise bad_request(*NO_UPO)
    if session["upo"] == upo_ref:
        return session_upo(ctx, session, upo_ref)
    return invoice_upo(ctx, session, ctx.store.get("invoice", upo_ref))


def upo_hash(xml: bytes) -> str:
    return crypto.sha256_b64(xml)
