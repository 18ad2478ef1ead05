"""The invoice page's KSeF panel says what the list says, and why an invoice waits (issue 11, item 7)."""
from __future__ import annotations

import re
from datetime import timedelta

from ksef_local.store import ksef_state, outbox
from ksef_local.store.db import iso, write
from tests.factories import NOW, issued
from tests.sender_support import drive, rig


def panel(client, invoice_id: int) -> str:
    response = client.get(f"/faktury/{invoice_id}/ksef", headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def page(client, invoice_id: int) -> str:
    response = client.get(f"/faktury/{invoice_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def xml_summary(html: str) -> str:
    return re.search(r"<summary>Plik XML[^<]*</summary>", html).group(0)


def test_the_panel_follows_the_send_button_and_says_why_the_invoice_waits(app, client, db, company):
    invoice_id = issued(db)
    before = page(client, invoice_id)
    assert "Faktura nie była jeszcze wysyłana do KSeF" in before
    assert "zostaną wysłane do KSeF" in xml_summary(before)
    # the panel listens for the list's event even before anything was sent: "Wyślij do KSeF" updates it
    assert re.search(r'id="ksef-panel"[^>]*hx-trigger="[^"]*invoices-changed from:body', before)

    sent = client.post("/ksef/wyslij", data={"id": str(invoice_id)}, htmx=True)
    assert sent.status_code == 200 and sent.headers["HX-Trigger"] == "invoices-changed"
    waiting = panel(client, invoice_id)
    assert "nie była jeszcze wysyłana" not in waiting and "Wyślij do KSeF" not in waiting
    assert 'id="ksef-letter">W<' in waiting and "czeka w kolejce" in waiting
    assert "zostaną wysłane do KSeF" in xml_summary(page(client, invoice_id))   # W: nothing has gone yet

    ksef_state.pause(db, NOW, "Token unieważniony", "Wpisz nowy token.", cause="credentials")
    assert "Wysyłka do KSeF jest wstrzymana: Token unieważniony" in panel(client, invoice_id)
    ksef_state.resume(db)
    with write(db):
        ksef_state.set_meta(db, "circuit", {"failures": 5, "opens": 1,
                                            "open_until": iso(NOW + timedelta(minutes=5))})
        ksef_state.set_meta(db, "reach", {"reachable": False, "checked_at": iso(NOW)})
    assert "KSeF nie odpowiada" in panel(client, invoice_id)


def test_after_ksef_took_the_invoice_the_page_says_so_and_the_counter_agrees_with_the_list(app, client, db, company):
    first, second, never = issued(db), issued(db), issued(db)
    with rig(app) as r:
        outbox.enqueue(db, [first, second], r.clock(), reachable=True)
        banner = client.get("/ksef/baner", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert 'id="pending-count">3<' in banner   # two W and one never sent: none of them is in KSeF
        drive(r.sender(), r.clock, stop=lambda: outbox.status(db, first).letter in ("O", "A"))
    html = page(client, first)
    assert "dokładnie te bajty wysłano do KSeF" in xml_summary(html)
    assert "zostaną wysłane" in xml_summary(page(client, never))
    banner = client.get("/ksef/baner", headers={"HX-Request": "true"}).get_data(as_text=True)
    unsent = sum(1 for i in (first, second, never) if outbox.status(db, i) is None
                 or outbox.status(db, i).letter == "W")
    assert f'id="pending-count">{unsent}<' in banner
