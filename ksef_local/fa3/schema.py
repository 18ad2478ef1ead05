"""Validate FA(3) XML against the official XSD, offline, and say what is wrong in Polish (Problem)."""
from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from importlib.resources import files
from typing import NamedTuple

from lxml import etree

from ksef_local.fa3.names import _ETD_BASE, _ETD_FILES, _MAIN_SCHEMA, _SCHEMA_PACKAGE, NS, _text

# --- schema ---------------------------------------------------------------------------------------------------


class SchemaResourceRefused(LookupError):
    """The schema asked for a resource that is not one of the bundled FA(3) files."""


class SchemaResolver(etree.Resolver):
    """Serve the FA(3) base schemas from ksef-client's package data and refuse everything else (fail closed).

    The official schema imports StrukturyDanych by its absolute crd.gov.pl URL, which lxml 6 cannot fetch
    (its bundled libxml2 2.14 is built without HTTP support); mapping it here also guarantees validation
    never touches the network.
    """

    def resolve(self, system_url, public_id, context):
        name = system_url[len(_ETD_BASE) :] if system_url and system_url.startswith(_ETD_BASE) else system_url
        if name not in _ETD_FILES:
            raise SchemaResourceRefused(system_url)
        data = (files(_SCHEMA_PACKAGE) / name).read_bytes()
        return self.resolve_string(data, context, base_url=_ETD_BASE + name)


class _Validator(NamedTuple):
    schema: etree.XMLSchema
    lock: threading.Lock  # an XMLSchema keeps its error log on the instance, so one validation at a time


@functools.lru_cache(maxsize=1)
def _validator() -> _Validator:
    """Compile the FA(3) schema once per process, on first use."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(SchemaResolver())
    document = etree.fromstring((files(_SCHEMA_PACKAGE) / _MAIN_SCHEMA).read_bytes(), parser, base_url=_MAIN_SCHEMA)
    return _Validator(etree.XMLSchema(document), threading.Lock())


def _safe_parser() -> etree.XMLParser:
    """Return a parser for untrusted XML: no entity expansion, no DTD, no network, no huge trees."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
    )


# --- problems -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason the invoice file is not acceptable: a Polish field label and sentence, and the raw detail."""

    field: str
    message: str
    detail: str = ""


# Polish labels of the elements we write (and a few common ones in imported files).
_LABELS = {
    "Faktura": "Faktura", "Naglowek": "Nagłówek", "KodFormularza": "Kod formularza",
    "WariantFormularza": "Wariant formularza", "DataWytworzeniaFa": "Data wytworzenia faktury",
    "SystemInfo": "Nazwa programu", "Podmiot1": "Sprzedawca", "Podmiot2": "Nabywca",
    "DaneIdentyfikacyjne": "Dane identyfikacyjne", "NIP": "NIP", "Nazwa": "Nazwa", "KodUE": "Kod kraju UE",
    "NrVatUE": "Numer VAT UE", "KodKraju": "Kraj", "NrID": "Identyfikator podatkowy",
    "BrakID": "Brak identyfikatora", "Adres": "Adres", "AdresL1": "Adres", "AdresL2": "Adres (druga linia)",
    "DaneKontaktowe": "Dane kontaktowe", "Email": "E-mail", "Telefon": "Telefon", "JST": "Znacznik JST",
    "GV": "Znacznik grupy VAT", "Fa": "Dane faktury", "KodWaluty": "Waluta", "P_1": "Data wystawienia",
    "P_1M": "Miejsce wystawienia", "P_2": "Numer faktury", "P_6": "Data sprzedaży",
    "P_15": "Kwota należności ogółem", "Adnotacje": "Adnotacje", "P_16": "Metoda kasowa",
    "P_17": "Samofakturowanie", "P_18": "Odwrotne obciążenie", "P_18A": "Mechanizm podzielonej płatności",
    "Zwolnienie": "Zwolnienie od podatku", "P_19": "Zwolnienie od podatku", "P_19A": "Podstawa zwolnienia",
    "P_19B": "Podstawa zwolnienia", "P_19C": "Podstawa zwolnienia", "P_19N": "Zwolnienie od podatku",
    "NoweSrodkiTransportu": "Nowe środki transportu", "P_22N": "Nowe środki transportu",
    "P_23": "Procedura trójstronna", "PMarzy": "Procedura marży", "P_PMarzyN": "Procedura marży",
    "RodzajFaktury": "Rodzaj faktury", "PrzyczynaKorekty": "Przyczyna korekty", "TypKorekty": "Typ skutku korekty",
    "DaneFaKorygowanej": "Dane faktury korygowanej", "DataWystFaKorygowanej": "Data wystawienia faktury korygowanej",
    "NrFaKorygowanej": "Numer faktury korygowanej", "NrKSeF": "Numer KSeF faktury korygowanej",
    "NrKSeFFaKorygowanej": "Numer KSeF faktury korygowanej", "NrKSeFN": "Faktura korygowana spoza KSeF",
    "DodatkowyOpis": "Dodatkowy opis", "Klucz": "Dodatkowy opis (nazwa)", "Wartosc": "Dodatkowy opis (treść)",
    "FaWiersz": "Pozycja faktury", "NrWierszaFa": "Numer pozycji", "P_7": "Nazwa towaru lub usługi",
    "P_8A": "Jednostka miary", "P_8B": "Ilość", "P_9A": "Cena jednostkowa netto",
    "P_9B": "Cena jednostkowa brutto", "P_10": "Rabat", "P_11": "Wartość netto", "P_11A": "Wartość brutto",
    "P_12": "Stawka VAT", "KursWaluty": "Kurs waluty", "StanPrzed": "Stan przed korektą", "Platnosc": "Płatność",
    "Zaplacono": "Zapłacono", "DataZaplaty": "Data zapłaty", "TerminPlatnosci": "Termin płatności",
    "Termin": "Termin płatności", "FormaPlatnosci": "Forma płatności", "RachunekBankowy": "Rachunek bankowy",
    "NrRB": "Numer rachunku bankowego", "Stopka": "Stopka", "Informacje": "Uwagi", "StopkaFaktury": "Uwagi",
}
_BUCKET_LABELS = {
    "1": "23% lub 22%", "2": "8% lub 7%", "3": "5%", "4": "4% lub 3%", "5": "OSS", "6_1": "0% – krajowe",
    "6_2": "0% – WDT", "6_3": "0% – eksport", "7": "zw", "8": "np", "9": "np – art. 100 ust. 1 pkt 4",
    "10": "odwrotne obciążenie", "11": "marża",
}
_PARTIES = {
    "Podmiot1": "sprzedawcy", "Podmiot2": "nabywcy", "Podmiot3": "podmiotu trzeciego",
    "PodmiotUpowazniony": "podmiotu upoważnionego",
}
_BUCKET_TAG = re.compile(r"P_1([34])_(\d+(?:_\d)?)(W?)")
_ELEMENT_IN_MESSAGE = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")
_FACET = re.compile(r"\[facet '(\w+)'\]")
_LIMIT = re.compile(r"(?:length of|allowed) \(?'(\d+)'\)?\.?$")


def _base_label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    match = _BUCKET_TAG.fullmatch(name)
    if match and match.group(2) in _BUCKET_LABELS:
        what = "Wartość netto" if match.group(1) == "3" else "Kwota VAT"
        in_pln = " w złotych" if match.group(3) else ""
        return f"{what}{in_pln} ({_BUCKET_LABELS[match.group(2)]})"
    return name


@dataclass(frozen=True)
class _Place:
    """Where in the invoice an element sits: whose data (seller/buyer) and which line."""

    party: str | None = None
    line: str | None = None
    before: bool = False

    def subject(self, name: str) -> str:
        """Return the field's name with whose data it is: "NIP nabywcy"."""
        return _base_label(name) + (f" {self.party}" if self.party else "")

    def label(self, name: str) -> str:
        """Return the Problem.field label: "Nazwa towaru lub usługi (pozycja 2)"."""
        if not self.line:
            return self.subject(name)
        return f"{self.subject(name)} (pozycja {self.line}{', przed korektą' if self.before else ''})"

    def where(self) -> str:
        """Return the line for a sentence: " w pozycji 2"."""
        if not self.line:
            return ""
        return f" w pozycji {self.line}" + (" (przed korektą)" if self.before else "")


def _local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _place_of(element: etree._Element | None) -> _Place:
    """Find the party and the FaWiersz an element belongs to (the element itself included)."""
    party = line = None
    before = False
    node = element
    while node is not None:
        name = _local_name(node)
        if party is None and name in _PARTIES:
            party = _PARTIES[name]
        if line is None and name == "FaWiersz":
            line, before = _line_number(node), node.find(f"{{{NS}}}StanPrzed") is not None
        node = node.getparent()
    return _Place(party, line, before)


def _line_number(row: etree._Element) -> str:
    number = _text(row.find(f"{{{NS}}}NrWierszaFa"))
    if number.isdigit():
        return number
    return str(1 + sum(1 for _ in row.itersiblings(f"{{{NS}}}FaWiersz", preceding=True)))


def _chars(count: int) -> str:
    if count == 1:
        return "znak"
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return "znaki"
    return "znaków"


def _value_sentence(message: str, subject: str, where: str) -> str:
    """Say in Polish what is wrong with a value, from the kind of libxml2 failure."""
    facet = _FACET.search(message)
    kind = facet.group(1) if facet else ""
    limit_match = _LIMIT.search(message)
    limit = int(limit_match.group(1)) if limit_match else 0
    start = f"Pole «{subject}»{where}"
    if kind == "maxLength":
        return f"{start} jest za długie (najwyżej {limit} {_chars(limit)})."
    if kind == "minLength" and limit <= 1:
        return f"{start} nie może być puste."
    if kind == "minLength":
        return f"{start} jest za krótkie (co najmniej {limit} {_chars(limit)})."
    if kind == "fractionDigits":
        return f"{start} ma za dużo cyfr po przecinku (najwyżej {limit})."
    if kind == "totalDigits":
        return f"{start} ma za dużo cyfr."
    if kind in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive"):
        return f"{start} ma wartość spoza dozwolonego zakresu."
    if kind == "enumeration":
        return f"{start} ma niedozwoloną wartość."
    if kind == "pattern" or "is not a valid value" in message:
        return f"{start} ma nieprawidłowy format."
    return f"{start} ma nieprawidłową wartość."


def _structure_problem(message: str, name: str, element: etree._Element | None, expected: list[str]) -> Problem:
    """Describe a missing or misplaced element (libxml2 "Missing child" / "This element is not expected")."""
    missing_child = "Missing child" in message
    place = _place_of(element if missing_child or element is None else element.getparent())
    if missing_child or len(expected) == 1:
        wanted = expected[0] if expected else name
        sentence = f"Brakuje wymaganego pola «{place.subject(wanted)}»{place.where()}."
        return Problem(place.label(wanted), sentence, message)
    start = f"Pole «{place.subject(name)}»{place.where()}"
    if not expected:
        return Problem(place.label(name), f"{start} nie jest dozwolone w tym miejscu.", message)
    options = ", ".join(dict.fromkeys(f"«{place.subject(other)}»" for other in expected[:5]))
    sentence = f"{start} jest w niewłaściwym miejscu; przed nim powinno być jedno z pól: {options}."
    return Problem(place.label(name), sentence, message)


def _expected_names(message: str) -> list[str]:
    """Return the local names libxml2 lists after "Expected is (one of)"."""
    match = _EXPECTED.search(message)
    if not match:
        return []
    return [re.sub(r"^\{[^}]*\}", "", item.strip()) for item in match.group(1).split(",")]


def _problem(tree: etree._ElementTree, error: etree._LogEntry) -> Problem:
    message = error.message
    if "No matching global declaration" in message:
        return Problem("Faktura", "Plik nie jest fakturą w formacie FA(3).", message)
    element = _error_element(tree, error.path)
    found = _ELEMENT_IN_MESSAGE.search(message)
    name = _local_name(element) if element is not None else (found.group(1) if found else "Faktura")
    if "Missing child" in message or "not expected" in message:
        return _structure_problem(message, name, element, _expected_names(message))
    place = _place_of(element)
    return Problem(place.label(name), _value_sentence(message, place.subject(name), place.where()), message)


def _error_element(tree: etree._ElementTree, path: str | None) -> etree._Element | None:
    """Return the element an error's positional path (/*/*[4]/*[11]/*[3]) points at, if any."""
    if not path:
        return None
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return None
    first = found[0] if isinstance(found, list) and found else None
    return first if isinstance(first, etree._Element) and isinstance(first.tag, str) else None


def _schema_problems(root: etree._Element) -> list[Problem]:
    validator = _validator()
    with validator.lock:
        validator.schema.validate(root)
        errors = list(validator.schema.error_log)
    tree = root.getroottree()
    problems: dict[str, Problem] = {}
    for error in errors:
        problem = _problem(tree, error)
        # libxml2 may report one bad value twice (a facet, then the type); the first is the more precise.
        problems.setdefault(problem.field, problem)
    return list(problems.values())


def _not_xml(error: etree.XMLSyntaxError) -> Problem:
    line = f" (wiersz {error.lineno})" if error.lineno else ""
    return Problem("Plik faktury", f"Plik nie jest poprawnym dokumentem XML{line}.", str(error))


def validate(xml: bytes) -> list[Problem]:
    """Validate FA(3) XML against the official XSD; return the problems (an empty list when it is valid)."""
    try:
        root = etree.fromstring(xml, _safe_parser())
    except etree.XMLSyntaxError as error:
        return [_not_xml(error)]
    return _schema_problems(root)

