/* The driver's page: each tap is queued on the phone (localStorage) with its
   Idempotency-Key fixed at the tap, then sent in order. Offline, the queue waits and the
   card moves on as if sent, so the driver can arrive, take the proof and complete; back
   online, the queue is replayed in order, and a write the server already has is answered
   as the first time (nothing stored twice). No inline script: the CSP allows 'self' only. */
(function () {
  "use strict";
  var root = document.getElementById("driver");
  if (!root) return;
  var csrf = root.dataset.csrf;
  var STORE = "lastmile-driver-queue-" + root.dataset.user;
  var LABELS = { scheduled: "Scheduled", started: "On the way", arrived: "Arrived", completed: "Completed", failed: "Failed", cancelled: "Cancelled" };
  var STEPS = { start: ["scheduled", "started"], arrive: ["started", "arrived"], complete: ["arrived", "completed"], fail: [null, "failed"] };
  var photos = {};
  var drafts = {};  // per job: the change being put together on the card (not sent yet)
  var sending = false;
  var net = document.getElementById("driver-net");

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "drv-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "[]"); } catch (e) { return []; }
  }

  function save(queue) {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(queue));
      return true;
    } catch (e) {
      say(null, "This phone's storage is full: send what is waiting before taking more photos.");
      return false;
    }
  }

  function card(jobId) { return document.getElementById("stop-" + jobId); }

  function setState(el, state) {
    if (!el || !state) return;
    el.dataset.state = state;
    var label = el.querySelector("[data-state-label]");
    if (label) label.textContent = LABELS[state] || state;
  }

  function say(el, text) {
    var where = el ? el.querySelector("[data-msg]") : null;
    if (where) where.textContent = text || "";
    else if (text) { net.hidden = false; net.removeAttribute("data-online"); net.textContent = text; }
  }

  function render() {
    var queue = load();
    var box = document.getElementById("driver-queue");
    var list = document.getElementById("queue-list");
    list.textContent = "";
    queue.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item.label;
      li.dataset.key = item.key;
      list.appendChild(li);
    });
    box.hidden = queue.length === 0;
    document.querySelectorAll(".stop").forEach(function (el) {
      var waiting = queue.some(function (i) { return String(i.job) === el.dataset.job; });
      if (waiting) el.dataset.queued = "1"; else delete el.dataset.queued;
    });
    root.dataset.queued = String(queue.length);
  }

  function refused(item, detail) {
    var box = document.getElementById("driver-refused");
    var li = document.createElement("li");
    li.textContent = item.label + ": " + detail;
    document.getElementById("refused-list").appendChild(li);
    box.hidden = false;
    var el = item.job ? card(item.job) : null;
    if (el && item.target && el.dataset.state === item.target && item.from) setState(el, item.from);
    if (item.kind === "accept" || item.kind === "change") changeRefused(item);
    say(el, detail);
  }

  function chip(el, kind, done) {
    if (!el) return;
    var taken = el.querySelector("[data-proofs-taken]");
    var span = document.createElement("span");
    span.className = done ? "pchip pchip-done" : "pchip";
    span.textContent = kind + (done ? " ✓" : " (waiting)");
    span.dataset.proofKind = kind;
    taken.appendChild(span);
  }

  function enqueue(item) {
    item.key = newKey();
    item.at = new Date().toISOString();
    var queue = load();
    queue.push(item);
    if (!save(queue)) return false;
    render();
    flush();
    return true;
  }

  function applied(item, body) {
    var el = item.job ? card(item.job) : null;
    if (item.kind === "accept" || item.kind === "change" || item.kind === "decline") changeApplied(item, body);
    if (body && body.job && el) {
      setState(el, body.job.state);
      say(el, "");
    }
    if (item.kind === "proof" && el) {
      var shown = el.querySelectorAll("[data-proofs-taken] .pchip-done").length > 0 &&
        Array.prototype.some.call(el.querySelectorAll("[data-proofs-taken] .pchip-done"), function (s) { return s.textContent === item.proof + " ✓"; });
      el.querySelectorAll("[data-proof-kind='" + item.proof + "']:not(.pchip-done)").forEach(function (s, i) {
        if (shown || i > 0) { s.remove(); return; }  // a replay of a proof the page shows already
        s.className = "pchip pchip-done";
        s.textContent = item.proof + " ✓";
      });
      var required = el.querySelector("[data-proof-chip='" + item.proof + "']");
      if (required) required.classList.add("pchip-done");
    }
    if (item.kind === "run" && body && body.stops) {
      var btn = document.getElementById("run-start");
      if (btn) btn.hidden = true;
      say(null, "");
      net.hidden = false;
      net.dataset.online = "1";
      body.stops.forEach(function (stop) {
        var c = card(stop.job);
        var eta = c ? c.querySelector("[data-eta]") : null;
        if (eta) eta.textContent = " · ETA " + (stop.eta_words || stop.eta) + (stop.late ? " (late)" : "");
      });
      net.textContent = "Run started: " + body.stops.length + " customer" + (body.stops.length === 1 ? "" : "s") + " told you are on your way.";
    }
  }

  function offline(text) {
    net.hidden = false;
    net.removeAttribute("data-online");
    net.textContent = text;
  }

  function flush() {
    if (sending) return;
    if (!navigator.onLine) { offline("Offline: your taps are kept on this phone and sent when the network is back."); return; }
    var queue = load();
    if (!queue.length) return;
    sending = true;
    var item = queue[0];
    fetch(item.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Idempotency-Key": item.key, "Accept": "application/json" },
      body: JSON.stringify(item.body || {}),
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        return { status: response.status, body: body, redirected: response.redirected };
      });
    }).then(function (r) {
      sending = false;
      if (r.redirected || r.status === 403 || r.status === 401) {
        offline("Your sign-in has ended: sign in again; your taps are kept on this phone.");
        return;
      }
      if (r.status >= 500 || r.status === 429) {
        offline("The server is busy: your taps are kept and will be sent again shortly.");
        window.setTimeout(flush, 5000);
        return;
      }
      var rest = load().filter(function (i) { return i.key !== item.key; });
      save(rest);
      if (r.status >= 200 && r.status < 300) applied(item, r.body);
      else refused(item, (r.body && r.body.detail) || ("refused (" + r.status + ")"));
      render();
      if (!rest.length) { net.hidden = false; net.dataset.online = "1"; if (item.kind !== "run") net.textContent = "Everything is sent."; }
      flush();
    }).catch(function () {
      sending = false;
      offline("Offline: your taps are kept on this phone and sent when the network is back.");
    });
  }

  function signature(canvas) {
    var ctx = canvas.getContext("2d");
    var drawing = false;
    function fit() {
      // Hidden in a closed <details> at load: sized on first touch, to the drawn size.
      var r = canvas.getBoundingClientRect();
      if (canvas.dataset.sized || r.width === 0) return;
      canvas.width = Math.round(r.width); canvas.height = Math.round(r.height);
      canvas.dataset.sized = "1";
      ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111827";
    }
    function at(e) {
      var r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
    }
    canvas.addEventListener("pointerdown", function (e) {
      fit();
      drawing = true;
      try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* not capturable: draw anyway */ }
      var p = at(e); ctx.beginPath(); ctx.moveTo(p[0], p[1]); e.preventDefault();
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) return;
      var p = at(e); ctx.lineTo(p[0], p[1]); ctx.stroke(); canvas.dataset.signed = "1"; e.preventDefault();
    });
    ["pointerup", "pointercancel"].forEach(function (t) { canvas.addEventListener(t, function () { drawing = false; }); });
  }

  function photoPicked(input) {
    var el = input.closest(".stop");
    var file = input.files && input.files[0];
    if (!file) return;
    var said = el.querySelector("[data-photo-said]");
    var reader = new FileReader();
    reader.onload = function () {
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, 1280 / Math.max(img.width, img.height));
        var c = document.createElement("canvas");
        c.width = Math.round(img.width * scale); c.height = Math.round(img.height * scale);
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        photos[el.dataset.job] = c.toDataURL("image/jpeg", 0.7);
        said.textContent = "Photo ready: " + c.width + " × " + c.height + ".";
      };
      img.onerror = function () { said.textContent = "That file is not a picture."; };
      img.src = reader.result;
    };
    reader.readAsDataURL(file);
  }

  function proofData(el, kind) {
    if (kind === "signature") {
      var canvas = el.querySelector("[data-sig]");
      return canvas.dataset.signed ? canvas.toDataURL("image/png") : "";
    }
    if (kind === "photo") return photos[el.dataset.job] || "";
    if (kind === "pin") return (el.querySelector("[data-pin]").value || "").trim();
    if (kind === "qr") return (el.querySelector("[data-qr]").value || "").trim();
    return "";
  }

  function clearProof(el, kind) {
    if (kind === "signature") {
      var canvas = el.querySelector("[data-sig]");
      canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
      delete canvas.dataset.signed;
    } else if (kind === "photo") {
      delete photos[el.dataset.job];
      el.querySelector("[data-photo]").value = "";
      el.querySelector("[data-photo-said]").textContent = "";
    } else if (kind === "pin") el.querySelector("[data-pin]").value = "";
    else if (kind === "qr") el.querySelector("[data-qr]").value = "";
  }


  // --- On site: changing the work with the customer's consent --------------------------------
  // The driver splits, removes or adds lines on the card; "Show the customer" queues the
  // proposal (its ref chosen here, so the customer's answer can be queued behind it offline)
  // and shows the customer the new price; their signature or PIN accepts it. The card's
  // lines change when the customer accepts, and go back if the server refuses.

  function money(minor, currency) {
    return (currency || "") + " " + (minor / 100).toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function toMinor(text) {
    var t = String(text == null ? "" : text).trim().replace(",", ".");
    if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
    var parts = t.split(".");
    return parseInt(parts[0], 10) * 100 + (parts[1] ? parseInt((parts[1] + "0").slice(0, 2), 10) : 0);
  }

  function toMajor(minor) { return (minor / 100).toFixed(2); }

  function linesOf(el) {
    try { return JSON.parse(el.dataset.lines || "[]"); } catch (e) { return []; }
  }

  function draft(el) {
    var id = el.dataset.job;
    if (!drafts[id]) drafts[id] = { removed: {}, split: {}, adds: [] };
    return drafts[id];
  }

  function opButton(text, op, index) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "dbtn";
    b.textContent = text;
    b.dataset.changeOp = op;
    b.dataset.index = String(index);
    return b;
  }

  function partInput(i, k, field, value, label) {
    var input = document.createElement("input");
    input.className = "dinput";
    input.value = value;
    input.autocomplete = "off";
    input.dataset.part = field;
    input.dataset.line = String(i);
    input.dataset.index = String(k);
    input.setAttribute("aria-label", label);
    if (field === "price") input.inputMode = "decimal";
    if (field === "quantity") { input.type = "number"; input.min = "1"; input.step = "1"; input.inputMode = "numeric"; }
    return input;
  }

  function renderDraft(el) {
    var list = el.querySelector("[data-change-lines]");
    if (!list) return;
    var lines = linesOf(el), d = draft(el), currency = el.dataset.currency;
    list.textContent = "";
    lines.forEach(function (line, i) {
      var li = document.createElement("li");
      li.className = "change-line";
      var what = document.createElement("p");
      what.textContent = line.quantity + " × " + line.description + " · " + money(line.quantity * line.unit_price, currency);
      if (d.removed[i]) what.className = "change-removed";
      li.appendChild(what);
      var row = document.createElement("div");
      row.className = "capture-row";
      if (d.removed[i]) row.appendChild(opButton("Keep it", "keep", i));
      else if (d.split[i]) row.appendChild(opButton("Don't split", "unsplit", i));
      else { row.appendChild(opButton("Split", "split", i)); row.appendChild(opButton("Remove", "remove", i)); }
      li.appendChild(row);
      if (d.split[i]) {
        d.split[i].forEach(function (part, k) {
          var box = document.createElement("div");
          box.className = "change-part";
          var n = "Part " + (k + 1) + " of line " + (i + 1);
          var title = document.createElement("p");
          title.className = "change-part-h";
          title.textContent = "Part " + (k + 1);
          box.appendChild(title);
          box.appendChild(partInput(i, k, "description", part.description, n + ": description"));
          var nums = document.createElement("div");
          nums.className = "change-nums";
          nums.appendChild(partInput(i, k, "quantity", part.quantity, n + ": quantity"));
          nums.appendChild(partInput(i, k, "price", part.price, n + ": unit price in " + currency));
          box.appendChild(nums);
          li.appendChild(box);
        });
      }
      list.appendChild(li);
    });
    d.adds.forEach(function (add, k) {
      var li = document.createElement("li");
      li.className = "change-line change-added";
      var what = document.createElement("p");
      what.textContent = "Added: " + add.quantity + " × " + add.description + " · " + money(add.quantity * add.unit_price, currency);
      li.appendChild(what);
      var row = document.createElement("div");
      row.className = "capture-row";
      row.appendChild(opButton("Take it out", "drop", k));
      li.appendChild(row);
      list.appendChild(li);
    });
    changeTotals(el);
  }

  // The ops the draft asks for and the lines after them, or the first problem in words.
  function draftOps(el) {
    var lines = linesOf(el), d = draft(el), ops = [], after = [], problem = "";
    lines.forEach(function (line, i) {
      if (d.removed[i]) { ops.push({ op: "remove", line: i }); return; }
      if (!d.split[i]) { after.push(line); return; }
      var parts = d.split[i].map(function (part, k) {
        var price = toMinor(part.price), qty = parseInt(part.quantity, 10);
        var where = "Line " + (i + 1) + ", part " + (k + 1) + ": ";
        if (!String(part.description).trim()) problem = problem || where + "describe it.";
        if (price === null) problem = problem || where + "the price as 0.00.";
        if (!(qty > 0) || String(qty) !== String(part.quantity).trim()) problem = problem || where + "a quantity of 1 or more.";
        return { description: String(part.description).trim(), quantity: qty, unit_price: price };
      });
      ops.push({ op: "split", line: i, parts: parts });
      parts.forEach(function (p) { after.push({ sku: line.sku, description: p.description, quantity: p.quantity, unit_price: p.unit_price, currency: line.currency }); });
    });
    d.adds.forEach(function (add) {
      ops.push({ op: "add", description: add.description, quantity: add.quantity, unit_price: add.unit_price });
      after.push({ sku: "", description: add.description, quantity: add.quantity, unit_price: add.unit_price, currency: el.dataset.currency });
    });
    return { ops: ops, after: after, problem: problem };
  }

  function total(lines) {
    return lines.reduce(function (sum, l) { return sum + (l.quantity || 0) * (l.unit_price || 0); }, 0);
  }

  function changeTotals(el) {
    var where = el.querySelector("[data-change-totals]");
    if (!where) return;
    var plan = draftOps(el), currency = el.dataset.currency;
    if (!plan.ops.length) { where.textContent = "Nothing changed yet: " + money(total(linesOf(el)), currency) + "."; return; }
    where.textContent = plan.problem || ("Price before " + money(total(linesOf(el)), currency) + " → new price " + money(total(plan.after), currency));
  }

  function setLines(el, lines) {
    var clean = lines.map(function (l) { return { sku: l.sku || "", description: l.description, quantity: l.quantity, unit_price: l.unit_price, currency: l.currency }; });
    el.dataset.lines = JSON.stringify(clean);
    var box = el.querySelector("[data-lines-box]");
    var list = el.querySelector("[data-lines-list]");
    list.textContent = "";
    clean.forEach(function (l) {
      var li = document.createElement("li");
      var what = document.createElement("span");
      what.textContent = l.quantity + " × " + l.description + (l.sku ? " " : "");
      if (l.sku) { var sku = document.createElement("span"); sku.className = "muted"; sku.textContent = l.sku; what.appendChild(sku); }
      var amount = document.createElement("span");
      amount.className = "stop-money";
      amount.textContent = money(l.quantity * l.unit_price, l.currency);
      li.appendChild(what); li.appendChild(amount);
      list.appendChild(li);
    });
    el.querySelector("[data-lines-total]").textContent = money(total(clean), el.dataset.currency);
    box.hidden = clean.length === 0;
    drafts[el.dataset.job] = null;
    renderDraft(el);
  }

  function showConsent(el, pending) {
    var box = el.querySelector("[data-consent]");
    if (!box || !pending) return;
    el._pending = pending;
    var list = box.querySelector("[data-consent-lines]");
    list.textContent = "";
    pending.after.forEach(function (l) {
      var li = document.createElement("li");
      var what = document.createElement("span");
      what.textContent = l.quantity + " × " + l.description;
      var amount = document.createElement("span");
      amount.className = "stop-money";
      amount.textContent = money(l.quantity * l.unit_price, pending.currency);
      li.appendChild(what); li.appendChild(amount);
      list.appendChild(li);
    });
    box.querySelector("[data-consent-before]").textContent = money(pending.total_before, pending.currency);
    box.querySelector("[data-consent-after]").textContent = money(pending.total_after, pending.currency);
    box.hidden = false;
  }

  function hideConsent(el) {
    var box = el.querySelector("[data-consent]");
    if (box) box.hidden = true;
    el._pending = null;
    var canvas = el.querySelector("[data-csig]");
    if (canvas) { canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height); delete canvas.dataset.signed; }
    var pin = el.querySelector("[data-cpin]");
    if (pin) pin.value = "";
  }

  function changeOp(btn) {
    var el = btn.closest(".stop"), d = draft(el), i = parseInt(btn.dataset.index, 10);
    var op = btn.dataset.changeOp, line = linesOf(el)[i];
    if (op === "remove") d.removed[i] = true;
    else if (op === "keep") delete d.removed[i];
    else if (op === "unsplit") delete d.split[i];
    else if (op === "drop") d.adds.splice(i, 1);
    else if (op === "split" && line) {
      var first = Math.ceil(line.unit_price / 2);
      d.split[i] = [
        { description: line.description + " (part 1)", quantity: String(line.quantity), price: toMajor(first) },
        { description: line.description + " (part 2)", quantity: String(line.quantity), price: toMajor(line.unit_price - first) },
      ];
    }
    renderDraft(el);
  }

  function changeAdd(btn) {
    var el = btn.closest(".stop");
    var desc = el.querySelector("[data-add-desc]"), qty = el.querySelector("[data-add-qty]"), price = el.querySelector("[data-add-price]");
    var q = parseInt(qty.value, 10), p = toMinor(price.value);
    if (!desc.value.trim()) { say(el, "Describe the line to add."); return; }
    if (!(q > 0)) { say(el, "The quantity is 1 or more."); return; }
    if (p === null) { say(el, "The unit price as 0.00."); return; }
    draft(el).adds.push({ description: desc.value.trim(), quantity: q, unit_price: p });
    desc.value = ""; qty.value = "1"; price.value = "";
    say(el, "");
    renderDraft(el);
  }

  function propose(el, name) {
    var plan = draftOps(el);
    if (!plan.ops.length) { say(el, "Split, remove or add a line first."); return; }
    if (plan.problem) { say(el, plan.problem); return; }
    var ref = newKey().replace("drv-", "chg-").slice(0, 24);
    var before = linesOf(el);
    var pending = { ref: ref, after: plan.after, total_before: total(before), total_after: total(plan.after), currency: el.dataset.currency };
    if (enqueue({ kind: "change", job: el.dataset.job, url: el.dataset.base + "/changes", body: { ref: ref, ops: plan.ops }, label: name + ": change proposed", pending: pending })) {
      drafts[el.dataset.job] = null;
      renderDraft(el);
      var details = el.querySelector(".stop-change");
      if (details) details.open = false;
      say(el, "");
      showConsent(el, pending);
      el.querySelector("[data-consent]").scrollIntoView({ block: "start" });
    }
  }

  function consentData(el, via) {
    if (via === "signature") {
      var canvas = el.querySelector("[data-csig]");
      return canvas.dataset.signed ? canvas.toDataURL("image/png") : "";
    }
    var pin = el.querySelector("[data-cpin]");
    return pin ? pin.value.trim() : "";
  }

  function decide(el, name, action, via) {
    var pending = el._pending;
    if (!pending) return;
    var url = el.dataset.base + "/changes/" + pending.ref + "/" + action;
    if (action === "decline") {
      if (enqueue({ kind: "decline", job: el.dataset.job, url: url, body: {}, label: name + ": change declined", pending: pending })) hideConsent(el);
      return;
    }
    var data = consentData(el, via);
    if (!data) { say(el, via === "signature" ? "Ask the customer to sign to accept." : "Type the customer's PIN first."); return; }
    var item = { kind: "accept", job: el.dataset.job, url: url, body: { via: via, data: data }, label: name + ": change accepted (" + via + ")", pending: pending, prevLines: linesOf(el) };
    if (enqueue(item)) {
      hideConsent(el);
      setLines(el, pending.after);
      say(el, "");
    }
  }

  function changeApplied(item, body) {
    var el = item.job ? card(item.job) : null;
    if (!el || !body || !body.change) return;
    var c = body.change;
    if (item.kind === "change" && el._pending && el._pending.ref === c.ref) {
      showConsent(el, { ref: c.ref, after: c.after, total_before: c.total_before, total_after: c.total_after, currency: c.currency });
    }
    if (item.kind === "accept" && body.job) {
      setLines(el, body.job.lines);
      var box = el.querySelector("[data-lines-box]");
      var note = document.createElement("p");
      note.className = "stop-changed muted";
      note.dataset.changed = "1";
      note.textContent = "Changed on site: " + money(body.change.total_before, body.change.currency) + " → " + money(body.change.total_after, body.change.currency) + ", accepted by the customer's " + (body.change.consent === "pin" ? "pin" : "signature");
      box.appendChild(note);
    }
  }

  function changeRefused(item) {
    var el = item.job ? card(item.job) : null;
    if (!el) return;
    el._dead = el._dead || {};
    if (item.kind === "accept") {
      setLines(el, item.prevLines);
      if (!el._dead[item.pending.ref]) showConsent(el, item.pending);
    }
    if (item.kind === "change") {
      el._dead[item.pending.ref] = true;
      if (el._pending && el._pending.ref === item.pending.ref) hideConsent(el);
    }
  }

  root.addEventListener("click", function (e) {
    var clear = e.target.closest("[data-sig-clear]");
    if (clear) { clearProof(clear.closest(".stop"), "signature"); return; }
    var cclear = e.target.closest("[data-csig-clear]");
    if (cclear) {
      var cc = cclear.closest(".stop").querySelector("[data-csig]");
      cc.getContext("2d").clearRect(0, 0, cc.width, cc.height);
      delete cc.dataset.signed;
      return;
    }
    var op = e.target.closest("[data-change-op]");
    if (op) { changeOp(op); return; }
    var add = e.target.closest("[data-change-add]");
    if (add) { changeAdd(add); return; }
    var btn = e.target.closest("[data-action]");
    if (!btn) return;
    var action = btn.dataset.action;
    if (action === "run") {
      btn.hidden = true;
      enqueue({ kind: "run", url: root.dataset.runUrl, body: { date: root.dataset.day }, label: "Start my run" });
      return;
    }
    var el = btn.closest(".stop");
    var jobId = el.dataset.job;
    var name = el.querySelector("h2").textContent;
    if (action === "change") { propose(el, name); return; }
    if (action === "accept" || action === "decline") { decide(el, name, action, btn.dataset.via); return; }
    if (action === "proof") {
      var kind = btn.dataset.kind;
      var data = proofData(el, kind);
      if (!data) { say(el, kind === "signature" ? "Ask the customer to sign first." : kind === "photo" ? "Take a photo first." : "Type the " + (kind === "pin" ? "PIN" : "code") + " first."); return; }
      if (enqueue({ kind: "proof", proof: kind, job: jobId, url: el.dataset.base + "/proofs", body: { kind: kind, data: data }, label: name + ": " + kind })) {
        chip(el, kind, false);
        clearProof(el, kind);
        say(el, "");
      }
      return;
    }
    var step = STEPS[action];
    if (!step) return;
    var body = {};
    if (action === "fail") body = { reason: el.querySelector("[data-reason]").value, note: el.querySelector("[data-note]").value };
    var from = el.dataset.state;
    if (enqueue({ kind: "step", job: jobId, url: el.dataset.base + "/" + action, body: body, from: from, target: step[1], label: name + ": " + btn.textContent.trim() })) {
      setState(el, step[1]);
      el.querySelectorAll("details[open]").forEach(function (d) { if (action !== "arrive") d.open = false; });
    }
  });

  root.addEventListener("change", function (e) {
    if (e.target.matches("[data-photo]")) photoPicked(e.target);
  });

  root.addEventListener("input", function (e) {
    var t = e.target;
    if (!t.matches("[data-part]")) return;
    var el = t.closest(".stop"), d = draft(el);
    var parts = d.split[parseInt(t.dataset.line, 10)];
    if (parts) parts[parseInt(t.dataset.index, 10)][t.dataset.part] = t.value;
    changeTotals(el);
  });

  document.querySelectorAll("[data-sig], [data-csig]").forEach(signature);
  document.querySelectorAll(".stop").forEach(function (el) {
    renderDraft(el);
    if (el.dataset.pending) { try { showConsent(el, JSON.parse(el.dataset.pending)); } catch (err) { /* shown again on the next load */ } }
  });

  // What was queued before a reload moves its card on again until it is sent.
  load().forEach(function (item) {
    var el = item.job ? card(item.job) : null;
    if (!el) return;
    if (item.kind === "step") setState(el, item.target);
    if (item.kind === "proof") chip(el, item.proof, false);
    if (item.kind === "run") { var b = document.getElementById("run-start"); if (b) b.hidden = true; }
    if (item.kind === "change") showConsent(el, item.pending);
    if (item.kind === "accept") { hideConsent(el); setLines(el, item.pending.after); }
    if (item.kind === "decline") hideConsent(el);
  });
  window.addEventListener("online", function () { net.hidden = false; net.dataset.online = "1"; net.textContent = "Back online: sending."; flush(); });
  window.addEventListener("offline", function () { offline("Offline: your taps are kept on this phone and sent when the network is back."); });
  window.setInterval(flush, 15000);
  // Keep the page on the phone, to reopen it offline (secure contexts only: HTTPS or loopback).
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(root.dataset.sw, { scope: root.dataset.scope }).catch(function () {});
    // The first load happens before the worker exists: hand it this page and its files.
    navigator.serviceWorker.addEventListener("message", function (e) {
      if (e.data && e.data.type === "kept") root.dataset.kept = "1";
    });
    if (navigator.serviceWorker.startMessages) navigator.serviceWorker.startMessages();
    navigator.serviceWorker.ready.then(function (reg) {
      var urls = [location.href];
      document.querySelectorAll("link[rel=stylesheet][href], script[src]").forEach(function (n) {
        urls.push(n.href || n.src);
      });
      if (reg.active) reg.active.postMessage({ type: "keep", urls: urls });
    }).catch(function () {});
  }
  render();
  flush();
})();
