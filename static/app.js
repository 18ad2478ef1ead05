// ksef-local: the row context menu on the invoice list ("Wyślij do KSeF" on right-click), and saving a month package
// for the accountant once it is ready. No inline script anywhere (Content-Security-Policy); everything else is htmx.
(function () {
  "use strict";

  function menu() { return document.getElementById("row-menu"); }

  function hideMenu() {
    var m = menu();
    if (m) { m.hidden = true; }
  }

  function selectOnly(row) {
    var box = row.querySelector("input[name=zaznaczone]");
    if (box && !box.checked) {
      document.querySelectorAll("input[name=zaznaczone]:checked").forEach(function (other) { other.checked = false; });
      box.checked = true;
    }
  }

  document.addEventListener("contextmenu", function (event) {
    var row = event.target.closest("tr[data-id]");
    var m = menu();
    if (!row || !m) { return; }
    event.preventDefault();
    selectOnly(row);
    m.dataset.row = row.dataset.id;
    m.style.left = event.pageX + "px";
    m.style.top = event.pageY + "px";
    m.hidden = false;
    var first = m.querySelector("button");
    if (first) { first.focus(); }
  });

  document.addEventListener("click", function (event) {
    var item = event.target.closest("#row-menu button[data-action]");
    if (!item) { hideMenu(); return; }
    var action = item.dataset.action;
    var rowId = menu().dataset.row;
    hideMenu();
    if (action === "send") { document.getElementById("ksef-send").click(); }
    if (action === "refresh") { document.getElementById("ksef-refresh").click(); }
    if (action === "open") {
      var link = document.querySelector("tr[data-id='" + rowId + "'] a");
      if (link) { window.location.assign(link.href); }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { hideMenu(); }
  });

  // "Pobierz paczkę ZIP" (templates/accounting/_export.html): the answer that ends the waiting carries the link
  // marked data-auto-download, which saves the file once by itself; the link stays for saving it again.
  document.addEventListener("htmx:load", function (event) {
    var link = event.detail.elt && event.detail.elt.querySelector && event.detail.elt.querySelector("a[data-auto-download]");
    if (link) {
      link.removeAttribute("data-auto-download");
      link.click();
    }
  });
})();
