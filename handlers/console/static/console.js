// o2ohub clerk console: countdowns to the accept deadline, a self-refreshing order list that never
// throws away what a clerk is typing, new orders announced with a sound and printed on the receipt
// printer, the ticket page's print button, and the admin's store selector.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function each(sel, fn) { Array.prototype.forEach.call(document.querySelectorAll(sel), fn); }

  // The ticket page: a print button, and printing itself once loaded when opened with ?print=1 (the
  // orders page frames it so to print a new order).
  if (document.body.classList.contains("ticket")) {
    each("[data-print-now]", function (b) { b.addEventListener("click", function () { window.print(); }); });
    if (document.body.getAttribute("data-print") === "1") {
      window.addEventListener("load", function () { setTimeout(function () { window.print(); }, 100); });
    }
    return;
  }

  // The server's clock decides the deadline; correct for a counter PC whose clock is off.
  var skew = 0;
  function readSkew(body) {
    var served = Date.parse(body.getAttribute("data-now") || "");
    skew = isNaN(served) ? 0 : served - Date.now();
  }
  readSkew(document.body);

  // The countdowns are looked up on every tick: the order list is replaced in place when it refreshes.
  function tick() {
    var now = Date.now() + skew;
    each("[data-deadline]", function (el) {
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
  if (document.querySelector("[data-deadline]") || document.body.hasAttribute("data-refresh")) { tick(); setInterval(tick, 1000); }

  // ---------------------------------------------------------------------------------------------
  // New orders: a sound and a printed ticket. Browsers play sound and print only after the person
  // has clicked on the page, so the clerk turns each on once with its button; the choice is kept in
  // localStorage. Orders already seen in this tab are kept in sessionStorage, so that a reload (or
  // the redirect after 接单) does not announce them again; the first page of a tab announces nothing.
  // ---------------------------------------------------------------------------------------------
  var prefs = {
    get: function (k) { try { return localStorage.getItem("o2ohub.console." + k) === "1"; } catch (e) { return false; } },
    set: function (k, on) { try { localStorage.setItem("o2ohub.console." + k, on ? "1" : "0"); } catch (e) { /* private mode */ } }
  };

  var audio = null;
  function audioContext() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) { return null; }
    if (!audio) { audio = new AC(); }
    if (audio.state === "suspended") { audio.resume(); }
    return audio;
  }
  // beep plays three short rising tones, made here: no sound file is needed.
  function beep() {
    var ctx = audioContext();
    if (!ctx) { return; }
    var t = ctx.currentTime + 0.02;
    [[0, 880], [0.22, 880], [0.44, 1320]].forEach(function (n) {
      var o = ctx.createOscillator(), g = ctx.createGain();
      o.type = "square";
      o.frequency.value = n[1];
      g.gain.setValueAtTime(0.0001, t + n[0]);
      g.gain.exponentialRampToValueAtTime(0.25, t + n[0] + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t + n[0] + 0.18);
      o.connect(g);
      g.connect(ctx.destination);
      o.start(t + n[0]);
      o.stop(t + n[0] + 0.2);
    });
    document.body.setAttribute("data-beeps", String(parseInt(document.body.getAttribute("data-beeps") || "0", 10) + 1));
  }
  // Any click or key wakes the sound up again (a new page starts with it asleep).
  ["pointerdown", "keydown"].forEach(function (ev) {
    document.addEventListener(ev, function () { if (prefs.get("sound")) { audioContext(); } }, true);
  });

  // Tickets print one at a time, each in a hidden frame that prints itself.
  var printQueue = [], printing = false;
  function printNext() {
    if (printing || !printQueue.length) { return; }
    printing = true;
    var no = printQueue.shift();
    var frame = document.createElement("iframe");
    frame.className = "print-frame";
    frame.setAttribute("aria-hidden", "true");
    frame.setAttribute("tabindex", "-1");
    var done = false;
    function next() {
      if (done) { return; }
      done = true;
      setTimeout(function () { frame.remove(); printing = false; printNext(); }, 1000);
    }
    frame.addEventListener("load", function () {
      try { frame.contentWindow.addEventListener("afterprint", next); } catch (e) { /* not ours */ }
      setTimeout(next, 30000);
    });
    frame.src = "/console/orders/" + encodeURIComponent(no) + "/ticket?print=1";
    document.body.appendChild(frame);
    document.body.setAttribute("data-printed", ((document.body.getAttribute("data-printed") || "") + " " + no).trim());
  }
  function printTicket(no) { printQueue.push(no); printNext(); }

  var seenKey = "o2ohub.console.seen." + ((document.querySelector(".brand .store") || {}).textContent || "");
  function announce() {
    var cards = document.querySelectorAll("[data-new-order]");
    if (!document.querySelector("[data-alerts]")) { return; }
    var seen = null;
    try { seen = JSON.parse(sessionStorage.getItem(seenKey) || "null"); } catch (e) { seen = null; }
    var first = !seen || typeof seen !== "object";
    if (first) { seen = {}; }
    var fresh = [];
    Array.prototype.forEach.call(cards, function (el) {
      var no = el.getAttribute("data-new-order");
      if (!seen[no] && !first) { fresh.push(no); el.classList.add("new"); }
      seen[no] = Date.now();
    });
    // Keep the newest 300 only.
    var nos = Object.keys(seen).sort(function (a, b) { return seen[b] - seen[a]; });
    nos.slice(300).forEach(function (no) { delete seen[no]; });
    try { sessionStorage.setItem(seenKey, JSON.stringify(seen)); } catch (e) { /* private mode */ }
    if (!fresh.length) { return; }
    document.body.setAttribute("data-announced", fresh.join(" "));
    if (prefs.get("sound")) { beep(); }
    if (prefs.get("print")) { fresh.forEach(printTicket); }
  }

  function showToggles() {
    each("[data-alerts]", function (bar) { bar.hidden = false; });
    each("[data-pref]", function (b) { b.setAttribute("aria-pressed", prefs.get(b.getAttribute("data-pref")) ? "true" : "false"); });
  }
  // The buttons are found by delegation: the list they are in is replaced when it refreshes.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("[data-pref]") : null;
    if (!b) { return; }
    var k = b.getAttribute("data-pref"), on = !prefs.get(k);
    prefs.set(k, on);
    showToggles();
    if (k === "sound" && on) { beep(); } // the clerk hears what a new order sounds like
  });
  showToggles();
  announce();

  // ---------------------------------------------------------------------------------------------
  // Refresh every data-refresh seconds so that new orders show, but never while the clerk is in a
  // field or typed in one during the last 90 seconds: that would throw away a half-written reason.
  // The page is fetched and its content swapped in place, so that the sound stays allowed; a session
  // that expired leads to the sign-in page.
  // ---------------------------------------------------------------------------------------------
  var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    var typed = 0;
    document.addEventListener("input", function () { typed = Date.now(); });
    var busy = function () {
      var el = document.activeElement;
      var tag = el ? el.tagName : "";
      return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || Date.now() - typed < 90000 ||
        document.querySelector("form[data-sent]") !== null;
    };
    var due = Date.now() + every * 1000, loading = false;
    var refresh = function () {
      if (!window.fetch || !window.DOMParser) { window.location.reload(); return; }
      loading = true;
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
        if (r.redirected || r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html === null || busy()) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("main"), cur = document.querySelector("main");
        if (!fresh || !cur) { return; }
        cur.replaceWith(document.adoptNode(fresh));
        readSkew(doc.body);
        showToggles();
        tick();
        announce();
      }).catch(function () { /* offline for a moment: the next round tries again */ }).then(function () {
        loading = false;
        due = Date.now() + every * 1000;
      });
    };
    setInterval(function () {
      if (Date.now() >= due && !loading && !busy() && document.visibilityState !== "hidden") { refresh(); }
    }, 1000);
  }

  document.addEventListener("change", function (ev) {
    var sel = ev.target;
    if (sel.matches && sel.matches("select[data-autosubmit]") && sel.value) { sel.form.submit(); }
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
