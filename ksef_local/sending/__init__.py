"""Sending to KSeF: the outbox worker and its collaborators.

The database is the queue (house-style rule 5): store/outbox.py holds the rows, this package decides each
step and commits every KSeF reference before the next remote step, so a restart resumes and never
double-sends.

    worker.py    Sender: run_once() (one bounded step) over the collaborators, and the thin thread loop
    remote.py    Remote: every KSeF call within the request budget; backoff, circuit, pause; reachability
    statuses.py  StatusTracker: invoice statuses, 440 duplicates, rejections, UPO
    batch.py     BatchSender: batch sessions
    online.py    OnlineSender: online sessions, sending, reconciling a lost answer by invoiceHash
    outages.py   OutageWatch: Latarnia, and the offline deadlines its announcements set, move or lift
"""
from ksef_local.sending.remote import Deferred, describe
from ksef_local.sending.worker import Sender

__all__ = ["Sender", "Deferred", "describe"]
