// The reply and note composers: a character counter against the server's limit, the via
// list switching the button between "send" and "log", the macro picker and the knowledge
// panel inserting text at the cursor. Listeners are on the document, so a page body that
// htmx swaps in works without binding again.
(function () {
  "use strict";

  function counterFor(textarea) {
    return document.querySelector('[data-count-for="' + textarea.id + '"]');
  }

  function count(textarea) {
    var box = counterFor(textarea);
    if (!box) return;
    var limit = parseInt(textarea.getAttribute("data-counter"), 10) || 0;
    var n = textarea.value.length;
    var shown = box.querySelector(".n");
    if (shown) shown.textContent = String(n);
    var over = limit && n > limit;
    box.classList.toggle("over", !!over);
    box.setAttribute("data-over", over ? String(n - limit) : "");
    var said = box.querySelector(".over-by");
    if (over) {
      if (!said) {
        said = document.createElement("span");
        said.className = "over-by";
        box.appendChild(said);
      }
      said.textContent = " — " + (n - limit) + " over the limit: shorten it before sending";
    } else if (said) {
      said.remove();
    }
  }

  function viaChanged(select) {
    var form = select.form;
    if (!form) return;
    var option = select.options[select.selectedIndex];
    var delivers = !!(option && option.getAttribute("data-delivers"));
    var files = !!(option && option.getAttribute("data-files"));
    var button = form.querySelector("button[type=submit]");
    if (button && button.textContent.indexOf("anyway") === -1) {
      button.textContent = button.getAttribute(delivers ? "data-label-send" : "data-label-log");
    }
    form.querySelectorAll("[data-hint-send]").forEach(function (el) { el.hidden = !delivers; });
    form.querySelectorAll("[data-hint-log]").forEach(function (el) { el.hidden = delivers; });
    form.querySelectorAll("[data-files-box]").forEach(function (el) {
      el.hidden = !files;
      var input = el.querySelector("input[type=file]");
      if (input) input.disabled = !files;
    });
  }

  function insert(textarea, text) {
    var start = textarea.selectionStart || 0;
    var end = textarea.selectionEnd || 0;
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    var gap = before && !/\s$/.test(before) ? "\n\n" : "";
    textarea.value = before + gap + text + after;
    var at = (before + gap + text).length;
    textarea.focus();
    textarea.setSelectionRange(at, at);
    count(textarea);
  }

  function templateText(template) {
    return template ? template.content.textContent.trim() : "";
  }

  function setUp(root) {
    (root || document).querySelectorAll("textarea[data-counter]").forEach(count);
    (root || document).querySelectorAll("select.reply-via").forEach(viaChanged);
  }

  document.addEventListener("input", function (event) {
    var t = event.target;
    if (t instanceof HTMLTextAreaElement && t.hasAttribute("data-counter")) count(t);
  });

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (!(t instanceof HTMLSelectElement)) return;
    if (t.classList.contains("reply-via")) viaChanged(t);
    if (t.hasAttribute("data-macro-choice")) {
      var picker = t.closest("[data-macro-picker]");
      var form = t.form;
      if (!picker || !form || !t.value) return;
      var template = picker.querySelector('template[data-macro-text="' + t.value + '"]');
      var textarea = form.querySelector("textarea[data-counter]");
      if (!textarea || !template) return;
      insert(textarea, templateText(template));
      var hidden = form.querySelector('input[name="macro"]');
      if (hidden) hidden.value = t.value;
      var said = picker.querySelector("[data-macro-said]");
      var name = t.options[t.selectedIndex].textContent;
      if (said) said.textContent = "Inserted: " + name;
      t.value = "";
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-insert-from]") : null;
    if (!button) return;
    var textarea = document.querySelector("#reply-form textarea[data-counter]");
    var template = document.getElementById(button.getAttribute("data-insert-from"));
    if (!textarea || !template) return;
    insert(textarea, templateText(template));
  });

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function (event) { setUp(event.target); });
})();
