// Bulk actions on the inbox and the case lists: the count of selected rows, "select all",
// only the field the chosen action needs, and no automatic refresh of the rows while some
// are selected (the refresh would drop the selection). No inline script: CSP.
(function () {
  "use strict";
  function form() { return document.querySelector("[data-bulk]"); }
  function checks() { return Array.prototype.slice.call(document.querySelectorAll(".bulk-check")); }
  function update() {
    var f = form();
    if (!f) { return; }
    var n = checks().filter(function (c) { return c.checked; }).length;
    var count = f.querySelector("[data-bulk-count]");
    if (count) { count.textContent = n + " selected"; }
    if (n) { f.removeAttribute("data-empty"); } else { f.setAttribute("data-empty", ""); }
    var action = f.querySelector("[data-bulk-action]");
    var chosen = action ? action.value : "";
    Array.prototype.forEach.call(f.querySelectorAll("[data-bulk-for]"), function (el) {
      el.hidden = el.getAttribute("data-bulk-for").split(" ").indexOf(chosen) < 0;
    });
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.hasAttribute && t.hasAttribute("data-bulk-all")) {
      checks().forEach(function (c) { c.checked = t.checked; });
    }
    update();
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var el = e.detail && e.detail.elt;
    if (el && el.id === "inbox-rows" && checks().some(function (c) { return c.checked; })) {
      e.preventDefault();
    }
  });
  // The filters change the rows in place and the address (hx-push-url): a view saved
  // afterwards keeps the filters now in the address, not those the page was drawn with.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f && f.hasAttribute && f.hasAttribute("data-save-view")) {
      var q = f.querySelector("input[name=query]");
      if (q) { q.value = window.location.search.replace(/^\?/, ""); }
    }
  });
  document.addEventListener("htmx:afterSwap", update);
  document.addEventListener("DOMContentLoaded", update);
  if (document.readyState !== "loading") { update(); }
})();
