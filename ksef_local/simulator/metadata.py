"""What the receiving side reads from an accepted FA(3) invoice: the document's part of InvoiceMetadata.

Fields as the official OpenAPI 2.6.0 describes them (CIRFMF/ksef-docs open-api.json, schemas InvoiceMetadata,
InvoiceMetadataSeller, InvoiceMetadataBuyer(Identifier), InvoiceMetadataThirdSubject(Identifier),
InvoiceMetadataAuthorizedSubject), read from the FA(3) elements of schemat_FA(3)_v1-0E.xsd (Podmiot1,
Podmiot2, Podmiot3, PodmiotUpowazniony, Fa). KSeF's own fields (number, dates, mode, hash) are added by
received.py. FA(3) element names are allowed here (house-style rule 12: simulator).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from ksef_local.fa3 import NS

FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}  # the only form the simulator takes
# RodzajFaktury (TRodzajFaktury) → OpenAPI InvoiceType.
INVOICE_TYPES = {"VAT": "Vat", "ZAL": "Zal", "KOR": "Kor", "ROZ": "Roz", "UPR": "Upr", "KOR_ZAL": "KorZal",
                 "KOR_ROZ": "KorRoz"}
# Every P_13_x of Fa: the sums of sales net values per rate or procedure.
NET_FIELDS = ("P_13_1", "P_13_2", "P_13_3", "P_13_4", "P_13_5", "P_13_6_1", "P_13_6_2", "P_13_6_3", "P_13_7",
              "P_13_8", "P_13_9", "P_13_10", "P_13_11")
VAT_FIELDS = ("P_14_1", "P_14_2", "P_14_3", "P_14_4", "P_14_5")


def read_metadata(xml: bytes) -> dict:
    """Return the InvoiceMetadata fields the document holds (call only for an invoice that passed the XSD)."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    fa = _child(root, "Fa")
    currency = _text(fa, "KodWaluty") or "PLN"
    seller = _child(_child(root, "Podmiot1"), "DaneIdentyfikacyjne")
    buyer = _child(_child(root, "Podmiot2"), "DaneIdentyfikacyjne")
    metadata = {
        "invoiceNumber": _text(fa, "P_2") or "",
        "issueDate": _text(fa, "P_1") or "",
        "seller": {"nip": _text(seller, "NIP") or "", "name": _text(seller, "Nazwa")},
        "buyer": {"identifier": _identifier(buyer), "name": _text(buyer, "Nazwa")},
        "netAmount": _sum(fa, NET_FIELDS),
        "grossAmount": _sum(fa, ("P_15",)),
        # "Łączna kwota VAT wyrażona w PLN": a foreign-currency invoice carries its VAT in PLN in P_14_xW.
        "vatAmount": _sum(fa, VAT_FIELDS if currency == "PLN" else tuple(f"{name}W" for name in VAT_FIELDS)),
        "currency": currency,
        "invoiceType": INVOICE_TYPES.get(_text(fa, "RodzajFaktury") or "", "Vat"),
        "formCode": dict(FORM_CODE),
        "isSelfInvoicing": _text(_child(fa, "Adnotacje"), "P_17") == "1",  # P_17 = 1: "samofakturowanie"
        "hasAttachment": _child(root, "Zalacznik") is not None,
        "thirdSubjects": [_third_subject(node) for node in root.findall(f"{{{NS}}}Podmiot3")],
    }
    authorized = _child(root, "PodmiotUpowazniony")
    if authorized is not None:
        data = _child(authorized, "DaneIdentyfikacyjne")
        metadata["authorizedSubject"] = {"nip": _text(data, "NIP") or "", "name": _text(data, "Nazwa"),
                                         "role": int(_text(authorized, "RolaPU") or 0)}
    return metadata


def _child(node, tag: str):
    return None if node is None else node.find(f"{{{NS}}}{tag}")


def _text(node, tag: str) -> str | None:
    found = _child(node, tag)
    return found.text.strip() if found is not None and found.text else None


def _identifier(data) -> dict:
    """Map the DaneIdentyfikacyjne choice to {type, value}: Nip, InternalId (Podmiot3 IDWew), VatUe, Other, None.

    The OpenAPI does not say how KodUE and NrVatUE make one value; the simulator joins them ("DE123456789").
    """
    for tag, kind in (("NIP", "Nip"), ("IDWew", "InternalId")):
        value = _text(data, tag)
        if value:
            return {"type": kind, "value": value}
    vat_ue = _text(data, "NrVatUE")
    if vat_ue:
        return {"type": "VatUe", "value": f"{_text(data, 'KodUE') or ''}{vat_ue}"}
    other = _text(data, "NrID")
    if other:
        return {"type": "Other", "value": other}
    return {"type": "None"}


def _third_subject(node) -> dict:
    data = _child(node, "DaneIdentyfikacyjne")
    role = _text(node, "Rola")
    # RolaInna (with OpisRoli) is the "Inna rola" of InvoiceMetadataThirdSubject.role: 0.
    return {"identifier": _identifier(data), "name": _text(data, "Nazwa"), "role": int(role) if role else 0}


def _sum(fa, names: tuple[str, ...]) -> float:
    total = Decimal("0")
    for name in names:
        try:
            total += Decimal(_text(fa, name) or "0")
        except InvalidOperation:
            continue  # cannot happen after the XSD check (TKwotowy); never fail indexing on it
    return float(total.quantize(Decimal("0.01")))
