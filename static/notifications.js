// ksef-local: desktop notifications of new purchase invoices through the browser's Notification API, for when the
// program runs in a browser (in its own window the system shows them: ksef_local/desktop/notifications.py).
// The top bar's counter (templates/purchases/_counter.html) asks the server to announce new invoices only when this
// page may show a notification; the server announces each arrival once, to whichever page asks first.
// No inline script anywhere (Content-Security-Policy).
(function () {
  "use strict";

  var supported = "Notification" in window;

  function allowed() { return supported && Notification.permission === "granted"; }

  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "purchases-new" && allowed()) {
      event.detail.parameters.powiadom = "1";
    }
  });

  function show(counter) {
    var body = counter.dataset.notifyBody;
    if (!body || !allowed()) { return; }
    try {
      var note = new Notification(counter.dataset.notifyTitle || "ksef-local", { body: body, tag: "ksef-local-zakupy" });
      note.onclick = function () {
        window.focus();
        if (counter.dataset.notifyUrl) { window.location.assign(counter.dataset.notifyUrl); }
        note.close();
      };
    } catch (ignored) {
      // Some embedded browsers have the API but refuse to construct one: the counter shows the news anyway.
    }
  }

  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "purchases-new") { show(elt); }
  });

  // "Powiadamiaj o nowych fakturach" on the purchase screen: offered only while the browser has not been asked.
  function offer() {
    var box = document.getElementById("notify-offer");
    if (box) { box.hidden = !(supported && Notification.permission === "default"); }
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#notify-enable")) { return; }
    Notification.requestPermission().then(offer, offer);
  });

  offer();
})();
