"""How search text is folded, one rule for both searches: the buyers' search keys and the invoice search.

Case and diacritics are folded, so "wisn" finds "Wiśniewski", "poznan" finds "Poznań" and "ŁÓDŹ" finds
"Łódź". Unicode gives "ł" no decomposition (it is a letter of its own, not "l" with a mark), so neither
NFKD nor FTS5's unicode61 tokenizer folds it (sqlite.org/fts5.html#unicode61_tokenizer): it is folded here
by hand. The invoice search index folds it in SQL (store/migrations.py, migration 9).
"""
from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Return the text case-folded, without diacritics and with ł as l."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ł", "l"))
    return "".join(c for c in folded if not unicodedata.combining(c))
