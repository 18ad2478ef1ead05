"""KSeF numbers: NNNNNNNNNN-YYYYMMDD-XXXXXXXXXXXX-CC (CIRFMF/ksef-docs faktury/numer-ksef.md).

CC is CRC-8 (poly 0x07, init 0x00, no reflection, no final xor) of the first 32 characters, in
uppercase hex. Reference numbers end in the same CRC over their first 33 characters (observed:
docs/ksef-protocol.md §3.5).
"""
from __future__ import annotations

import re
from datetime import date

# [0-9], not \d: \d also matches fullwidth and other scripts' digits, which the ASCII checksum cannot encode.
_KSEF_NUMBER_RE = re.compile(r"([1-9][0-9]{9})-([0-9]{8})-([0-9A-F]{12})-([0-9A-F]{2})")


def crc8(data: bytes) -> int:
    """Return CRC-8 with polynomial 0x07 and initial value 0x00."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def with_checksum(body: str) -> str:
    """Append "-CC" (CRC-8 of body) to a KSeF or reference number body."""
    return f"{body}-{crc8(body.encode('ascii')):02X}"


def make_ksef_number(nip: str, accepted_on: date, technical_hex: str) -> str:
    """Build a KSeF number from the seller NIP, the acceptance date and 12 hex characters."""
    if not re.fullmatch(r"[0-9A-F]{12}", technical_hex):
        raise ValueError("technical part must be 12 uppercase hex characters")
    return with_checksum(f"{nip}-{accepted_on:%Y%m%d}-{technical_hex}")


def is_valid_ksef_number(value: str) -> bool:
    """Return True for a well-formed 35-character KSeF number whose CRC-8 checks out."""
    match = _KSEF_NUMBER_RE.fullmatch(value or "")
    if not match:
        return False
    try:
        date(int(match[2][:4]), int(match[2][4:6]), int(match[2][6:]))
    except ValueError:
        return False
    return with_checksum(value[:32]) == value
