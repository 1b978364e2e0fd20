// o2ohub clerk console: countdowns to the accept deadline, a self-refreshing order list that never
// throws away what a clerk is typing, and the admin's store selector.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // The server's clock decides the deadline; correct for a counter PC whose clock is off.
  var served = Date.parse(document.body.getAttribute("data-now") || "");
  var skew = isNaN(served) ? 0 : served - Date.now();

  var clocks = Array.prototype.slice.call(document.querySelectorAll("[data-deadline]"));
  function tick() {
    var now = Date.now() + skew;
    clocks.forEach(function (el) {
      var left = Math.floor((Date.parse(el.getAttribute("data-deadline")) - now) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) {
        el.textContent = "已超时，即将转给其他门店";
        el.classList.add("late");
        return;
      }
      el.textContent = "剩余 " + Math.floor(left / 60) + ":" + pad(left % 60);
      el.classList.toggle("late", left < 60);
    });
  }
  if (clocks.length) { tick(); setInterval(tick, 1000); }

  // Reload every data-refresh seconds so that new orders show, but never while the clerk is in a field
  // or typed in one during the last 90 seconds: that would throw away a half-written reason.
  var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    var typed = 0;
    document.addEventListener("input", function () { typed = Date.now(); });
    var due = Date.now() + every * 1000;
    setInterval(function () {
      var el = document.activeElement;
      var tag = el ? el.tagName : "";
      var busy = tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || Date.now() - typed < 90000;
      if (Date.now() >= due && !busy && document.visibilityState !== "hidden") {
        window.location.reload();
      }
    }, 1000);
  }

  Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (sel) {
    sel.addEventListener("change", function () { if (sel.value) { sel.form.submit(); } });
  });

  // A button submits its form once: a double tap must not send a step twice.
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f.getAttribute("method") !== "post") { return; }
    if (f.dataset.sent) { ev.preventDefault(); return; }
    f.dataset.sent = "1";
  });
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) { return; }
    Array.prototype.forEach.call(document.forms, function (f) { delete f.dataset.sent; });
  });
})();
