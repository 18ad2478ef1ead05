"""Where PDFs render: a big one in a worker process, so the render lock stays free for small ones; the size bound.

No wall-clock assertions: the tests watch the mechanism (who holds xhtml2pdf's render lock, whether a worker
process ran) and the refusals. benchmarks/pdf_concurrency.py measures the times.
"""
from __future__ import annotations

import multiprocessing
import threading

import pytest
from xhtml2pdf import document as xhtml2pdf_document

from ksef_local import printing
from ksef_local.errors import UserError
from ksef_local.printing import render

from .factories import issued
from .test_printing import PRINTED, QR_HOST, pdf_pages, pdf_text


def lines(count: int, name: str = "Towar") -> list[dict]:
    return [{"name": f"{name} {i}", "quantity": "1", "unit_price": "10", "rate": "23"} for i in range(1, count + 1)]


def test_a_big_pdf_renders_in_a_worker_and_leaves_the_render_lock_free(app, db, company):
    """While the smallest invoice that counts as big renders, this process's xhtml2pdf lock is never taken: a
    one-page PDF asked meanwhile renders at once instead of waiting for the big one (issue 11, item 15)."""
    count = render.LIMITS.in_process_weight - render.PAGE_WEIGHT + 1
    assert render.weight([count]) > render.LIMITS.in_process_weight >= render.weight([count - 1])
    big = issued(db, lines=lines(count))
    state = app.extensions["ksef_local"]
    result: dict[str, bytes] = {}

    def print_big() -> None:
        result["pdf"] = printing.render_invoice_pdf(state.db(), big, qr_host=QR_HOST, now=PRINTED)

    thread = threading.Thread(target=print_big, name="big-pdf")
    lock = xhtml2pdf_document._RENDER_LOCK  # read, not patched: the lock a small PDF would wait for
    held = free = 0
    worker_seen = False
    thread.start()
    while thread.is_alive():
        worker_seen = worker_seen or any(p.name == "ksef-local-pdf" for p in multiprocessing.active_children())
        if lock.acquire(blocking=False):
            lock.release()
            free += 1
        else:
            held += 1
        thread.join(0.005)
    assert held == 0 and free > 0
    assert worker_seen
    pages = pdf_pages(result["pdf"])
    assert len(pages) > 1 and f"Towar {count} " in " ".join(pages)
    assert f"Strona {len(pages)} z {len(pages)}" in pages[-1]


def test_a_small_pdf_renders_here_without_a_worker(db, company):
    small = issued(db)
    assert render.weight([3]) <= render.LIMITS.in_process_weight
    before = set(multiprocessing.active_children())
    data = printing.render_invoice_pdf(db, small, qr_host=QR_HOST, now=PRINTED)
    assert "FV/2026/11/1" in pdf_text(data)
    assert set(multiprocessing.active_children()) == before


def test_a_worker_renders_a_selection_each_invoice_on_its_own_pages(db, company):
    first, second = issued(db, lines=lines(5, "Chleb")), issued(db, lines=lines(5, "Bułka"))
    data = printing.render_many(db, [first, second], qr_host=QR_HOST, now=PRINTED,
                                limits=render.Limits(in_process_weight=0))
    pages = pdf_pages(data)
    assert len(pages) == 2 and "Chleb 5" in pages[0] and "Bułka 5" in pages[1]
    assert all("Strona 1 z 1" in page for page in pages)


def test_a_selection_over_the_line_bound_is_refused_in_polish_and_told_to_split(db, company):
    ids = [issued(db, lines=lines(30)) for _ in range(3)]
    with pytest.raises(UserError) as refused:
        printing.render_many(db, ids, qr_host=QR_HOST, now=PRINTED, limits=render.Limits(max_lines=50))
    assert refused.value.status == 413
    assert refused.value.message == ("Zaznaczone faktury (3) mają razem 90 pozycji, a jeden wydruk PDF może mieć "
                                     "najwyżej 50 pozycji. Podziel wydruk: zaznacz mniej faktur naraz (np. po 1).")


def test_one_invoice_over_the_line_bound_points_at_its_xml():
    with pytest.raises(UserError) as refused:
        render.check_size([2500])
    message = refused.value.message.replace("\xa0", " ")  # thousands grouped with a no-break space
    assert message.startswith("Ta faktura ma 2 500 pozycji, a jeden wydruk PDF może mieć najwyżej 2 000 pozycji")
    assert "Pobierz XML" in message
    render.check_size([2000])  # the bound itself prints
    render.check_size([1000, 1000])


def test_the_web_refuses_an_oversize_selection_with_the_message(app, client, db, company):
    ids = [issued(db, lines=lines(1001)) for _ in range(2)]
    response = client.get(f"/faktury/pdf?id={ids[0]}&id={ids[1]}")
    assert response.status_code == 413
    text = response.get_data(as_text=True).replace("\xa0", " ")
    assert "mają razem 2 002 pozycji" in text and "Podziel wydruk" in text


def test_a_second_big_print_is_refused_while_the_workers_are_busy(db, company):
    invoice_id = issued(db)
    with render._SLOTS.take(1):  # one worker is rendering
        with pytest.raises(UserError) as refused:
            printing.render_invoice_pdf(db, invoice_id, qr_host=QR_HOST, now=PRINTED,
                                        limits=render.Limits(in_process_weight=0, workers=1))
    assert refused.value.status == 503 and "drukuje już inny duży wydruk" in refused.value.message
    assert render._SLOTS.running == 0
