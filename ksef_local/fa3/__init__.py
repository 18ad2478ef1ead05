"""FA(3) XML: build it from an Invoice, check it against KSeF's file rules and the official XSD, read a summary.

The only package that knows FA(3) element names (house rule 12):

- build.py     writes the XML from an Invoice (build_xml)
- schema.py    the offline XSD (SchemaResolver), the safe parser, validate and the Polish Problem
- document.py  KSeF's file rules (check_document) and the summary of an imported invoice (parse_summary)
- names.py     the namespace, limits, bucket order and character rules the others share
"""
from ksef_local.fa3.build import build_xml
from ksef_local.fa3.document import ImportSummary, check_document, parse_summary
from ksef_local.fa3.names import MAX_DOCUMENT_BYTES, NS
from ksef_local.fa3.schema import Problem, SchemaResolver, SchemaResourceRefused, validate

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "NS",
    "ImportSummary",
    "Problem",
    "SchemaResolver",
    "SchemaResourceRefused",
    "build_xml",
    "check_document",
    "parse_summary",
    "validate",
]
