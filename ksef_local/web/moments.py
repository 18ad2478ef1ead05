"""Moments on the screens: Polish local time to read, the exact stored value kept in <time datetime>.

KSeF error details, a paused queue's details and task reports are copyable texts that carry moments as
UTC ISO strings (sending/remote.describe writes "Czas: 2026-11-24T09:30:00.123456+00:00"); the screens show
each one as 24.11.2026 10:30:00 in the computer's time zone, with the exact value in the element's datetime
and title.
"""
from __future__ import annotations

import re
from datetime import datetime

from markupsafe import Markup, escape

from ksef_local import formats

# An ISO 8601 moment with its offset (a moment without one names no instant, so it stays as written).
ISO_MOMENT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def time_tag(value: datetime | str | None) -> Markup:
    """A <time> element: the moment in local time with seconds, its exact value in datetime and title."""
    if not value:
        return Markup("")
    exact = value if isinstance(value, str) else value.isoformat()
    shown = formats.pl_datetime(value, seconds=True)
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(exact, shown)


def local_times(text: str | None) -> Markup:
    """Escape a copyable report and show every ISO moment in it as time_tag() does."""
    if not text:
        return Markup("")
    parts, end = [], 0
    for found in ISO_MOMENT.finditer(text):
        parts += [escape(text[end:found.start()]), time_tag(found.group())]
        end = found.end()
    parts.append(escape(text[end:]))
    return Markup("").join(parts)
