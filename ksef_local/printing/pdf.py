"""Lay out print jobs with templates/pdf/invoice.html and turn them into PDF with xhtml2pdf.

Fonts: DejaVu Sans from static/fonts, read through a ResourceAccessPolicy rooted there. Without the
policy xhtml2pdf (0.2.28) reads local files only under the current working directory, so it silently
falls back to Helvetica, which has no Polish letters.
"""
from __future__ import annotations

import functools
import io
import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import jinja2
from pypdf import PdfReader, PdfWriter
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from ksef_local import formats
from ksef_local.config import resources_dir
from ksef_local.core import money
from ksef_local.printing.document import PrintJob
from ksef_local.version import VERSION

log = logging.getLogger(__name__)


class PdfError(RuntimeError):
    """xhtml2pdf reported errors while rendering."""


def fonts_dir() -> Path:
    return resources_dir() / "static" / "fonts"


def _chunks(url: str, width: int = 64) -> list[str]:
    """Cut a long link into lines: reportlab wraps only at spaces, and a link has none."""
    return [url[i:i + width] for i in range(0, len(url), width)]


def _price(value: Decimal | None) -> str:
    return formats.format_flexible(value, 2)


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The Jinja environment of the PDF templates: the same folder as the app's, usable without Flask."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources_dir() / "templates")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters.update(pl_date=formats.pl_date, money=formats.format_money, amount=formats.format_pl,
                       number=formats.format_flexible, price=_price, chunks=_chunks,
                       words=money.amount_in_words, account=formats.format_account)
    return env


def html_for(job: PrintJob, printed_at: datetime) -> str:
    """Return the XHTML of one printed invoice."""
    return _environment().get_template("pdf/invoice.html").render(
        job=job, inv=job.invoice, state=job.state, fontdir=fonts_dir().as_posix(),
        printed_at=printed_at, version=VERSION)


def html_to_pdf(html: str) -> bytes:
    """Render XHTML to PDF bytes; fonts may be read from static/fonts only, nothing remote."""
    policy = ResourceAccessPolicy(base_dir=str(fonts_dir()), allow_remote=False)
    buffer = io.BytesIO()
    status = pisa.CreatePDF(html, dest=buffer, encoding="utf-8", resource_policy=policy)
    if status.err:
        raise PdfError(f"xhtml2pdf reported {status.err} error(s)")
    return buffer.getvalue()


def merge(documents: list[bytes]) -> bytes:
    """Join PDFs into one, each keeping its own pages (and so its own "Strona X z Y")."""
    if len(documents) == 1:
        return documents[0]
    writer = PdfWriter()
    for document in documents:
        writer.append(PdfReader(io.BytesIO(document)))
    out = io.BytesIO()
    writer.write(out)
    writer.close()
    return out.getvalue()
