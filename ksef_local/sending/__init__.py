"""Sending to KSeF: the outbox worker and its parts.

The database is the queue (house-style rule 5): outbox.py holds the rows, this package moves them along
and commits every KSeF reference before the next remote step, so a restart resumes and never double-sends.

    worker.py    Sender: run_once() (one bounded step) and the thin thread loop
    health.py    one remote call within the request budget; backoff, circuit, pause; our reachability check
    outages.py   Latarnia, and the offline deadlines its announcements set, move or lift (ksef-api.md §9)
    online.py    online sessions: open, send, reconcile a lost answer by invoiceHash, close
    statuses.py  invoice statuses, 440 duplicates, rejections, UPO
    batch.py     batch sessions
"""
from ksef_local.sending.health import Deferred, describe
from ksef_local.sending.worker import Sender

__all__ = ["Sender", "Deferred", "describe"]
