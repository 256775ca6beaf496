// The practice page's live check: as the agent types the reply or a promise, the draft is
// posted (debounced) to the case's check endpoint, a dry run that records nothing, and the
// verdicts and suggested articles beside the form are replaced. Without JavaScript the
// "Check" button does the same with a full page.
(function () {
  "use strict";
  var WAIT_MS = 400;

  function start() {
    var form = document.getElementById("draft-form");
    var slot = document.getElementById("practice-check");
    if (!form || !slot || !window.fetch || !window.FormData) return;
    var url = form.getAttribute("data-check-url");
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    var timer = null;
    var sent = 0;

    function check() {
      var mine = ++sent;
      var body = new FormData(form);
      body.delete("action");
      fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "", "X-Requested-With": "fetch" },
      })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null || mine !== sent) return; // a later check is on its way
          slot.innerHTML = html;
          slot.setAttribute("data-checked", String(mine));
        })
        .catch(function () { /* offline: the Check button still works */ });
    }

    function later(event) {
      if (!event.target.hasAttribute("data-check")) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(check, WAIT_MS);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
