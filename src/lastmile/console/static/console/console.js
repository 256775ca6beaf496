/* lastmile console: live countdowns and a few htmx niceties. No dependencies. */
(function () {
  "use strict";

  // The server's clock, sent with the page: countdowns follow it, not a skewed laptop clock.
  var skew = 0;
  var serverNow = Date.parse(document.body.dataset.now || "");
  if (!isNaN(serverNow)) skew = serverNow - Date.now();

  // Same words as console_tags.span_words: the two largest units.
  function spanWords(s) {
    var days = Math.floor(s / 86400), hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60), secs = s % 60;
    var parts;
    if (days) parts = [days + (days === 1 ? " day" : " days"), hours ? hours + " h" : ""];
    else if (hours) parts = [hours + " h", minutes ? minutes + " min" : ""];
    else if (minutes) parts = [minutes + " min", secs ? secs + " s" : ""];
    else parts = [secs + " s"];
    return parts.filter(Boolean).join(" ");
  }

  function countdownWords(seconds) {
    if (seconds > 0) return "in " + spanWords(seconds);
    if (seconds === 0) return "due now";
    return "overdue " + spanWords(-seconds);
  }

  function tick() {
    var now = Date.now() + skew;
    var els = document.querySelectorAll(".countdown[data-due]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var due = Date.parse(el.dataset.due);
      if (isNaN(due)) continue;
      var seconds = Math.trunc((due - now) / 1000);
      var text = countdownWords(seconds);
      if (el.textContent !== text) el.textContent = text;
      if (seconds <= 0 && !el.classList.contains("is-overdue")) {
        el.classList.add("is-overdue");
        // The deadline passed while the page was open: show it as breached now,
        // the server agrees on the next refresh.
        var holder = el.closest("[data-sla]");
        if (holder && (holder.dataset.sla === "ok" || holder.dataset.sla === "at_risk")) {
          holder.dataset.sla = "breached";
          var tag = holder.querySelector(".sla-tag");
          if (tag) { tag.dataset.sla = "breached"; tag.textContent = "Breached"; }
        }
      }
    }
  }

  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  tick();
  setInterval(tick, 1000);

  document.addEventListener("htmx:afterSwap", function () {
    tick();
    // A refused action comes back with its reason at the top of the page: show it.
    var alert = document.querySelector("#page-body .alert-error");
    if (alert) alert.scrollIntoView({ block: "center", behavior: "smooth" });
  });
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    toast(xhr.status === 404 ? "Not found, or no longer yours to change. Reload the page."
      : "The server answered " + xhr.status + ". Nothing was changed; try again.");
  });
  // <select data-autosubmit>: choosing an option sends its form (no inline onchange, which
  // the Content-Security-Policy would block).
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) el.form.submit();
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Nothing was sent.");
  });
})();
