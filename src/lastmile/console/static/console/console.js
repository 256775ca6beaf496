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


  // --- the top bar's menu below 900 px ---------------------------------------------------
  function menuSet(open) {
    var button = document.querySelector("[data-nav-toggle]");
    if (!button) return;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var bar = button.closest(".topbar");
    if (bar) bar.classList.toggle("is-open", open);
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-nav-toggle]");
    if (button) menuSet(button.getAttribute("aria-expanded") !== "true");
    var help = e.target.closest && e.target.closest("[data-shortcuts-open]");
    var dialog = document.getElementById("shortcuts");
    if (help && dialog && dialog.showModal && !dialog.open) dialog.showModal();
    // The merge picker: the customer picked stays marked while its confirmation shows.
    var pick = e.target.closest && e.target.closest("[data-merge-pick]");
    if (pick) {
      var picks = document.querySelectorAll("[data-merge-pick]");
      for (var i = 0; i < picks.length; i++) picks[i].setAttribute("aria-pressed", picks[i] === pick ? "true" : "false");
    }
  });

  // --- keyboard shortcuts (base.html's dialog lists them) -------------------------------
  // Rows of any list: the inbox's table.loops, the case lists' table.cases, and anything
  // marked data-nav-row (search results) or in a table.rows. The row's link to open is the one
  // marked data-nav-open, else its first link.
  var ROWS = "table.loops > tbody > tr, table.cases > tbody > tr, table.rows > tbody > tr, [data-nav-row]";
  var current = null; // the id (or index) of the selected row, kept across htmx swaps

  function rows() {
    var all = document.querySelectorAll(ROWS), out = [];
    for (var i = 0; i < all.length; i++) {
      if (all[i].getClientRects().length) out.push(all[i]);
    }
    return out;
  }

  function rowLink(row) {
    return row.querySelector("[data-nav-open]") || row.querySelector("a[href]");
  }

  function rowSelect(row) {
    var was = document.querySelectorAll(".is-nav-current");
    for (var i = 0; i < was.length; i++) was[i].classList.remove("is-nav-current");
    row.classList.add("is-nav-current");
    current = row.id || null;
    var link = rowLink(row);
    if (link) link.focus();
    else { row.tabIndex = -1; row.focus(); }
    row.scrollIntoView({ block: "nearest" });
  }

  function rowMove(step) {
    var list = rows();
    if (!list.length) return;
    var at = -1;
    for (var i = 0; i < list.length; i++) {
      if (list[i].classList.contains("is-nav-current") || list[i].contains(document.activeElement)) { at = i; break; }
    }
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, at + step));
    rowSelect(list[next]);
  }

  function composerFocus(formId) {
    var form = document.getElementById(formId);
    var box = form && form.querySelector("textarea");
    if (!box) return false;
    for (var d = box.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) d.open = true;
    box.focus();
    box.scrollIntoView({ block: "center" });
    return true;
  }

  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return !/^(checkbox|radio|button|submit|reset|range|color|file|image)$/.test(el.type);
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    var dialog = document.getElementById("shortcuts");
    if (e.key === "Escape") { menuSet(false); return; }
    if (typing(e.target) || (dialog && dialog.open)) return;
    var handled = true;
    switch (e.key) {
      case "j": rowMove(1); break;
      case "k": rowMove(-1); break;
      case "Enter": {
        // A focused link or button does its own thing; Enter on a selected row opens it.
        if (e.target.closest && e.target.closest("a, button, summary, [role=button]")) { handled = false; break; }
        var row = document.querySelector(".is-nav-current");
        var link = row && rowLink(row);
        if (link) link.click(); else handled = false;
        break;
      }
      case "r": handled = composerFocus("reply-form"); break;
      case "n": handled = composerFocus("note-form"); break;
      case "/": {
        var search = document.getElementById("top-search");
        if (search) { search.focus(); search.select(); } else handled = false;
        break;
      }
      case "?":
        if (dialog && dialog.showModal) dialog.showModal(); else handled = false;
        break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  // The inbox refreshes itself: keep the selected row selected (without moving focus).
  document.addEventListener("htmx:afterSwap", function () {
    if (!current) return;
    var row = document.getElementById(current);
    if (row) row.classList.add("is-nav-current");
  });

  tick();
  setInterval(tick, 1000);

  document.addEventListener("htmx:afterSwap", function (e) {
    tick();
    // A refused action comes back with its reason at the top of the page: show it.
    var alert = document.querySelector("#page-body .alert-error");
    if (alert) { alert.scrollIntoView({ block: "center", behavior: "smooth" }); return; }
    // So does a done one ("Queued on SMS…"), above the composer the agent sent from: bring
    // it into view, once, when an action replaced the page (not on a list's own refresh).
    if (!e.detail.target || e.detail.target.id !== "page-body") return;
    var done = document.querySelector("#page-body .alert[role=status]");
    if (!done) return;
    var box = done.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) done.scrollIntoView({ block: "center" });
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
