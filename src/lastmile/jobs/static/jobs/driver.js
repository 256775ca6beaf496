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
        if (eta) eta.textContent = " · ETA " + new Date(stop.eta).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + (stop.late ? " (late)" : "");
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

  root.addEventListener("click", function (e) {
    var clear = e.target.closest("[data-sig-clear]");
    if (clear) { clearProof(clear.closest(".stop"), "signature"); return; }
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

  document.querySelectorAll("[data-sig]").forEach(signature);

  // What was queued before a reload moves its card on again until it is sent.
  load().forEach(function (item) {
    var el = item.job ? card(item.job) : null;
    if (!el) return;
    if (item.kind === "step") setState(el, item.target);
    if (item.kind === "proof") chip(el, item.proof, false);
    if (item.kind === "run") { var b = document.getElementById("run-start"); if (b) b.hidden = true; }
  });
  window.addEventListener("online", function () { net.hidden = false; net.dataset.online = "1"; net.textContent = "Back online: sending."; flush(); });
  window.addEventListener("offline", function () { offline("Offline: your taps are kept on this phone and sent when the network is back."); });
  window.setInterval(flush, 15000);
  // Keep the page on the phone, to reopen it offline (secure contexts only: HTTPS or loopback).
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(root.dataset.sw, { scope: root.dataset.scope }).catch(function () {});
  }
  render();
  flush();
})();
