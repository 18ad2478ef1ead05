"""Invoice statuses (docs/ksef-protocol.md §3.4), 440 duplicates (§11), rejections, and the UPO (§3.8) that
turns O into A."""
from __future__ import annotations

from datetime import datetime

from ksef_local.ksef import crypto, errors, messages
from ksef_local.ksef.models import InvoiceStatus
from ksef_local.sending.remote import Deferred, Remote, describe
from ksef_local.store import ksef_state, outbox_work
from ksef_local.store.db import iso, write
from ksef_local.store.outbox import mark_checked, transition
from ksef_local.store.outbox_work import next_attempt


class StatusTracker:
    """Follow invoices KSeF is processing until their final status, and fetch their UPOs."""

    def __init__(self, remote: Remote, poll_interval: float) -> None:
        self.remote = remote
        self.poll_interval = poll_interval
        self._upo_urls: dict[int, str] = {}   # pre-signed, not rate-limited; kept in memory only

    def poll(self, db, now: datetime) -> bool:
        """Check the statuses that are due; return whether a request was made."""
        due = outbox_work.sent_due(db, now)
        if not due:
            return False
        first = due[0]
        ref = first["session_ref"]
        same = [r for r in due if r["session_ref"] == ref]
        try:
            if len(same) >= 3:  # one list call answers for the whole session (cheaper for the budget)
                listed = self.remote.call(db, now, "sessionInvoiceList",
                                          lambda c: c.session_invoices(ref, page_size=1000))
                by_ref = {s.reference_number: s for s in listed}
                for r in same:
                    if r["invoice_ref"] in by_ref:
                        self.apply(db, now, r, by_ref[r["invoice_ref"]])
                return True
            answer = self.remote.call(db, now, "invoiceStatus", lambda c: c.invoice_status(ref, first["invoice_ref"]))
        except errors.KsefNoSession:
            # KSeF took these invoices (they have references) and now does not know their session: they are
            # looked for by hash in the whole of KSeF (sending/reconcile.py), never sent again blindly.
            with write(db):
                for r in same:
                    transition(db, r["id"], now, "unknown", f"KSeF nie zna sesji {ref} – sprawdzimy po skrócie,"
                               " czy faktura jest w KSeF, zanim cokolwiek wyślemy ponownie", unknown_since=iso(now),
                               next_attempt_at=iso(now))
                    mark_checked(db, r["id"])
            return True
        self.apply(db, now, first, answer)
        return True

    def apply(self, db, now: datetime, r: dict, status: InvoiceStatus) -> None:
        """Record what KSeF says about one invoice: still processing, accepted, a duplicate or rejected."""
        if not status.is_final:
            polls = r["tries"] + 1
            delay = min(300.0, self.poll_interval * 1.5 ** min(polls, 20))  # 150 may last hours
            with write(db):
                if status.code != r["ksef_code"]:
                    transition(db, r["id"], now, "sent", f"KSeF: {status.code} {status.description}", code=status.code,
                               ksef_code=status.code, tries=polls, next_attempt_at=next_attempt(now, delay))
                else:
                    outbox_work.update(db, r["id"], tries=polls, next_attempt_at=next_attempt(now, delay))
                mark_checked(db, r["id"])
            return
        if status.is_accepted:
            self._accept(db, now, r, status, r["session_ref"],
                         f"KSeF przyjął fakturę: numer KSeF {status.ksef_number}"
                         f" (tryb {status.invoicing_mode or '-'}); UPO jeszcze niepobrane")
            return
        rejection = status.rejection()
        if isinstance(rejection, errors.KsefDuplicateInvoice):
            self._duplicate(db, now, r, rejection)
        else:
            self._reject(db, now, r, rejection, status)

    def _accept(self, db, now: datetime, r: dict, status: InvoiceStatus, session_ref: str, note: str) -> None:
        with write(db):
            transition(db, r["id"], now, "accepted", note, code=status.code, ksef_code=status.code,
                       ksef_number=status.ksef_number, invoicing_mode=status.invoicing_mode,
                       session_ref=session_ref, invoice_ref=status.reference_number, tries=0,
                       next_attempt_at=iso(now), error_title=None, error_advice=None, error_detail=None)
            mark_checked(db, r["id"])
        if status.upo_download_url:
            self._upo_urls[r["id"]] = status.upo_download_url

    def _duplicate(self, db, now: datetime, r: dict, dup: errors.KsefDuplicateInvoice) -> None:
        """440: ours if the original session holds our hash as accepted; else the number belongs to another invoice."""
        original = None
        if dup.original_session:
            try:
                original = self.remote.call(db, now, "sessionInvoiceList",
                                            lambda c: c.find_invoice_by_hash(dup.original_session, r["invoice_hash"]))
            except errors.KsefNoSession:
                original = None
        if original is not None and original.is_accepted and \
                (dup.original_ksef_number is None or original.ksef_number == dup.original_ksef_number):
            self._accept(db, now, r, original, dup.original_session,
                         f"KSeF: 440 duplikat – to ta sama faktura (ten sam skrót), przyjęta wcześniej w sesji"
                         f" {dup.original_session}: numer KSeF {original.ksef_number}; UPO jeszcze niepobrane")
            return
        if original is not None and not original.is_final:
            with write(db):
                outbox_work.update(db, r["id"], next_attempt_at=next_attempt(now, 30.0))
            return
        number = outbox_work.invoice_number(db, r)
        title = (f"Numer faktury {number} został już użyty w KSeF dla innej faktury"
                 + (f" (numer KSeF {dup.original_ksef_number})" if dup.original_ksef_number else ""))
        advice = ("KSeF przyjmuje każdy numer faktury sprzedawcy tylko raz. Sprawdź, czy tej faktury nie wysłano "
                  "z innego programu; jeśli to inna faktura, popraw ją i nadaj jej nowy numer.")
        with write(db):
            transition(db, r["id"], now, "rejected", f"KSeF: 440 {title}", code=440, ksef_code=440,
                       error_title=title, error_advice=advice,
                       error_detail=describe(dup, r["session_ref"], r["invoice_ref"], now))
            mark_checked(db, r["id"])

    def _reject(self, db, now: datetime, r: dict, rejection: errors.KsefInvoiceRejected, status: InvoiceStatus) -> None:
        latarnia = (ksef_state.get_meta(db, "latarnia") or {}).get("status")
        message = messages.user_message(rejection, latarnia)
        text = f"KSeF odrzucił fakturę: {status.code} {status.description}"
        text += "".join(f"; {item}" for item in status.details[:5])
        with write(db):
            transition(db, r["id"], now, "rejected", text, code=status.code, ksef_code=status.code,
                       invoicing_mode=status.invoicing_mode, error_title=message.title, error_advice=message.advice,
                       error_detail=describe(rejection, r["session_ref"], r["invoice_ref"], now))
            mark_checked(db, r["id"])

    # -- UPO ----------------------------------------------------------------------------------------

    def fetch_upos(self, db, now: datetime) -> bool:
        """Fetch the next due UPO; return whether a request was made."""
        r = outbox_work.accepted_due(db, now)
        if r is None:
            return False
        url = self._upo_urls.pop(r["id"], None)
        try:
            if url is not None:
                upo = self.remote.call(db, now, None, lambda c: c.download_presigned(url))
            else:
                upo = self.remote.call(db, now, "sessionMisc",
                                       lambda c: c.invoice_upo(r["session_ref"], r["invoice_ref"]))
        except errors.KsefNoSession as exc:
            self._upo_failed(db, now, r, str(exc))
            return True
        except Deferred as deferred:
            if deferred.reason != "budget":
                self._upo_failed(db, now, r, str(deferred.cause))
            raise
        if upo.sha256 and crypto.sha256_b64(upo.xml) != upo.sha256:
            self._upo_failed(db, now, r, "skrót pobranego UPO nie zgadza się z nagłówkiem x-ms-meta-hash")
            return True
        with write(db):
            transition(db, r["id"], now, "done", "UPO pobrane i zapisane – faktura przyjęta i zarchiwizowana w KSeF",
                       upo=upo.xml, upo_sha256=crypto.sha256_b64(upo.xml), tries=0,
                       error_title=None, error_advice=None, error_detail=None)
            mark_checked(db, r["id"])
        return True

    def _upo_failed(self, db, now: datetime, r: dict, why: str) -> None:
        """The KSeF number stays (a UPO failure never undoes it); the UPO is fetched again with a growing delay."""
        delay = min(3600.0, 30.0 * 2 ** min(r["tries"], 7))
        with write(db):
            outbox_work.update(db, r["id"], tries=r["tries"] + 1, next_attempt_at=next_attempt(now, delay),
                               error_title="UPO jeszcze niepobrane",
                               error_advice="Numer KSeF jest zapisany; program sam ponowi pobieranie UPO.")
            if r["tries"] == 0:
                outbox_work.note(db, now, r["id"], f"Nie udało się pobrać UPO ({why}) – numer KSeF {r['ksef_number']}"
                                                   " pozostaje zapisany; ponowimy pobieranie")
            mark_checked(db, r["id"])
