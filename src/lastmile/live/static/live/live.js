/* lastmile working together: keeps the case page and the inbox current, says who else has
   the case open or is typing, and shows the unread notifications. No dependencies; no inline
   script (the Content-Security-Policy forbids it): everything comes from data-* attributes.

   Every POLL_MS while the tab is visible, one cheap GET /live/poll answers the version of
   the case shown (or of the inbox) and the unread count. When a version moves, the page
   region is fetched again and swapped in place, never the composer the agent types in, and
   never a region holding the focus or a ticked checkbox (it is tried again next time). */
(function () {
  "use strict";

  var POLL_MS = 3000;   // the issue asks for no slower than every 5 s
  var BEAT_MS = 5000;   // presence: others see us for 15 s after the last beat
  var TYPING_MS = 2000; // at most one typing ping per 2 s while the composer changes
  // The case page's regions swapped when its version moves (the case header by class, as
  // its template gives it no id).
  var CASE_REGIONS = ["#thread", "#thread-h", "#open-loops", "#loops-h", ".case-head"];

  var QUIET_TICKS = 5;  // a page with nothing live asks only for the unread count, every 15 s
  // The inbox: the cursor the poll answered last, the newest event of our teams' loops the
  // rows show, and one newer still when a redraw is due but was put off. The page starts
  // from the stamp its rows were rendered with (read before them), so a loop that changes
  // before the first poll answers is redrawn, not taken as already shown.
  var rendered = document.getElementById("inbox-rows");
  var inboxCursor = (rendered && rendered.dataset.liveCursor) || "";
  var inboxLast = rendered && rendered.dataset.liveLast ? Number(rendered.dataset.liveLast) : null;
  var inboxDue = 0;
  var busy = false;
  var ticks = 0;
  var lastTyping = 0;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function liveCase() { return document.getElementById("live-case"); }
  function bell() { return document.getElementById("live-notes"); }

  function setUnread(n) {
    var badge = document.getElementById("live-unread");
    if (!badge) return;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = !n;
    var summary = badge.closest("summary");
    if (summary) summary.setAttribute("title", n ? n + " unread notification" + (n === 1 ? "" : "s") : "Notifications");
  }

  // A field changed and not sent yet: its value differs from the one the page came with.
  function isDirty(field) {
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      for (var i = 0; i < field.options.length; i++) {
        if (field.options[i].selected !== field.options[i].defaultSelected) return true;
      }
      return false;
    }
    if (field.type === "hidden" || field.type === "file" || field.type === "submit") return false;
    return "defaultValue" in field && field.value !== field.defaultValue;
  }

  // Swapping `el` would lose what the agent is doing in it: the focus, a ticked row, a
  // field changed and not sent.
  function holdsUserState(el) {
    var active = document.activeElement;
    if (active && active !== document.body && el.contains(active)) return true;
    if (el.querySelector("input[type=checkbox]:checked")) return true;
    var fields = el.querySelectorAll("input, select, textarea");
    for (var i = 0; i < fields.length; i++) if (isDirty(fields[i])) return true;
    return false;
  }

  // The <details> the agent opened stay open in the fresh copy (same position, same count).
  function keepOpen(from, to) {
    var before = from.querySelectorAll("details");
    var after = to.querySelectorAll("details");
    if (before.length !== after.length) return;
    for (var i = 0; i < before.length; i++) after[i].open = before[i].open;
  }

  function process(el) {
    if (window.htmx && el) window.htmx.process(el);
  }

  // Swap each region of `doc` into the page; false if one had to be left for later.
  function swapRegions(doc, selectors) {
    var all = true;
    selectors.forEach(function (sel) {
      var cur = document.querySelector(sel);
      var next = doc.querySelector(sel);
      if (!cur || !next || cur.outerHTML === next.outerHTML) return;
      if (holdsUserState(cur)) { all = false; return; }
      var fresh = document.importNode(next, true);
      keepOpen(cur, fresh);
      cur.replaceWith(fresh);
      process(fresh);
    });
    return all;
  }

  // The composers' hidden `seen` (console/_composer.html: the newest message id the page
  // showed, for the collision check) follows the thread: a message the agent watched
  // arrive here is one they have seen. Never lowered.
  var SEEN_FIELDS = "#reply-form input[name=seen], #note-form input[name=seen]";

  function newestShown() {
    var newest = 0;
    document.querySelectorAll("#thread .msg[id^='interaction-']").forEach(function (m) {
      var id = parseInt(m.id.slice("interaction-".length), 10);
      if (id > newest) newest = id;
    });
    return newest;
  }

  function markSeen() {
    var newest = newestShown();
    if (!newest) return;
    document.querySelectorAll(SEEN_FIELDS).forEach(function (field) {
      var had = parseInt(field.value, 10) || 0;
      if (newest > had) field.value = String(newest);
    });
  }

  function refreshCase(root) {
    busy = true;
    return fetch(root.dataset.caseUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fetched = doc.getElementById("live-case");
        var now = liveCase();
        if (swapRegions(doc, CASE_REGIONS) && fetched && now) {
          now.dataset.version = fetched.dataset.version;
        }
        markSeen();
        document.dispatchEvent(new CustomEvent("live:refreshed", { detail: { what: "case" } }));
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  function refreshInbox(version) {
    var rows = document.getElementById("inbox-rows");
    if (!rows) return Promise.resolve();
    if (holdsUserState(rows)) return Promise.resolve();
    busy = true;
    return fetch(window.location.pathname + window.location.search, {
      credentials: "same-origin",
      headers: { Accept: "text/html", "HX-Request": "true", "HX-Target": "inbox-rows" }
    })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (swapRegions(doc, ["#inbox-rows"])) {
          inboxLast = Math.max(inboxLast || 0, version);
          inboxDue = 0;
        }
        document.dispatchEvent(new CustomEvent("live:refreshed", { detail: { what: "inbox" } }));
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  function poll() {
    if (document.hidden || busy) return;
    var root = liveCase();
    var notes = bell();
    var url = (root && root.dataset.pollUrl) || (notes && notes.dataset.pollUrl);
    if (!url) return;
    var query = [];
    if (root) query.push("case=" + encodeURIComponent(root.dataset.ref));
    var inbox = document.getElementById("inbox-rows");
    if (inbox) query.push("inbox=" + encodeURIComponent(inboxCursor));
    if (!query.length && ticks++ % QUIET_TICKS) return;
    fetch(url + (query.length ? "?" + query.join("&") : ""), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (typeof data.unread === "number") setUnread(data.unread);
        var current = liveCase();
        if (current && data.case && data.case !== current.dataset.version) return refreshCase(current);
        if (inbox && data.inbox) {
          inboxCursor = String(data.inbox.cursor);
          if (inboxLast === null) inboxLast = data.inbox.last;
          else if (data.inbox.last > inboxLast) inboxDue = Math.max(inboxDue, data.inbox.last);
          if (inboxDue) return refreshInbox(inboxDue);
        }
      })
      .catch(function () {});
  }

  // --- notifications about the case shown ------------------------------------------------

  // The agent opened the case: their notifications about it are read. A CSRF-checked POST
  // the first time the page is visible, never the GET of the page itself; answers the
  // unread count left, for the bell. Once only: a mention arriving while the case is open
  // is news, and the bell counts it until the agent opens the case again.
  var caseSeenSent = false;  // once per page: when it is first visible (a background tab: later)

  function caseSeen() {
    var root = liveCase();
    if (caseSeenSent || !root || !root.dataset.seenUrl || document.hidden) return Promise.resolve();
    caseSeenSent = true;
    return fetch(root.dataset.seenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" }
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { if (typeof data.unread === "number") setUnread(data.unread); })
      .catch(function () {});
  }

  // --- presence ------------------------------------------------------------------------

  function beat(typing) {
    var root = liveCase();
    if (!root || document.hidden) return;
    var body = new FormData();
    body.append("typing", typing ? "1" : "0");
    fetch(root.dataset.beatUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
      body: body
    })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var box = document.getElementById("live-presence");
        if (box && box.innerHTML.trim() !== html.trim()) box.innerHTML = html.trim();
      })
      .catch(function () {});
  }

  document.addEventListener("input", function (e) {
    var el = e.target;
    if (!liveCase() || !el.matches || !el.matches("#note-form textarea, #reply-form textarea")) return;
    var now = Date.now();
    if (now - lastTyping < TYPING_MS) return;
    lastTyping = now;
    beat(true);
  });

  window.addEventListener("pagehide", function () {
    var root = liveCase();
    if (!root || !navigator.sendBeacon) return;
    var body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken());
    navigator.sendBeacon(root.dataset.leaveUrl, body);
  });

  // --- the top bar's list ----------------------------------------------------------------

  document.addEventListener("toggle", function (e) {
    var notes = bell();
    if (e.target !== notes || !notes.open) return;
    var menu = document.getElementById("live-menu");
    fetch(notes.dataset.menuUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        menu.innerHTML = html;
        var csrf = csrfToken();
        menu.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (i) {
          if (!i.value) i.value = csrf;
        });
      })
      .catch(function () {});
  }, true);

  // Following a notification's link reads it: a CSRF-checked POST that outlives the
  // navigation (the link itself stays a plain GET of the case, which changes nothing).
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a[data-read-url]");
    if (!link || !navigator.sendBeacon) return;
    var body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken());
    navigator.sendBeacon(link.dataset.readUrl, body);
  }, true);

  document.addEventListener("click", function (e) {
    var notes = bell();
    if (notes && notes.open && !notes.contains(e.target)) notes.open = false;
  });

  // The agent's own action swapped the page body (and the presence line with it): say who
  // is here again now rather than at the next beat.
  document.addEventListener("htmx:afterSwap", function () {
    var box = document.getElementById("live-presence");
    if (box && !box.innerHTML.trim()) beat(false);
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { caseSeen().then(poll); beat(false); }
  });

  // Seen first, then the first poll: its count is then the one left after the case was read.
  caseSeen().then(poll);
  beat(false);
  setInterval(poll, POLL_MS);
  setInterval(function () { beat(false); }, BEAT_MS);
})();
