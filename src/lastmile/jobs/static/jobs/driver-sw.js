/* The driver's page's service worker, served at /jobs/driver/sw.js (scope /jobs/driver/):
   the page and its static files, network first, kept for when the phone is offline, so
   the driver can reopen the page in a dead zone and its queued taps are still sent later.
   The page is kept from the first visit: on install the worker fetches the page at its
   scope, and the page posts its own address and its scripts and styles once the worker is
   active (the first load happens before the worker exists, so the worker never sees it).
   Offline, a page is answered from the copy of the same address, else from the copy of the
   same path with any query (?date=…), so the driver's page opens whatever link was used.
   Writes (POST) are never touched: the page's own queue replays them. */
"use strict";
var CACHE = "lastmile-driver-v2";

function keep(cache, url) {
  // Only a real page is kept: not a redirect to the login (a signed-out phone), not an error.
  return fetch(url, { credentials: "same-origin" }).then(function (response) {
    if (response.ok && !response.redirected && response.type === "basic") return cache.put(url, response);
  }).catch(function () {});
}

self.addEventListener("install", function (event) {
  self.skipWaiting();
  event.waitUntil(caches.open(CACHE).then(function (cache) { return keep(cache, self.registration.scope); }));
});
self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf("lastmile-driver-") === 0 && n !== CACHE; }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

// The page: "keep these" (its own address and its static files), answered when all are kept.
self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type !== "keep" || !Array.isArray(data.urls)) return;
  var urls = data.urls.filter(function (u) {
    try {
      var url = new URL(u, self.location.href);
      return url.origin === self.location.origin &&
        (url.pathname.indexOf("/jobs/driver/") === 0 || url.pathname.indexOf("/static/") === 0);
    } catch (err) { return false; }
  });
  var done = caches.open(CACHE).then(function (cache) {
    return Promise.all(urls.map(function (u) { return keep(cache, u); }));
  }).then(function () {
    if (event.source) event.source.postMessage({ type: "kept", urls: urls });
  });
  if (event.waitUntil) event.waitUntil(done);
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  var page = url.pathname.indexOf("/jobs/driver/") === 0 && request.mode === "navigate";
  var asset = url.pathname.indexOf("/static/") === 0;
  if (!page && !asset) return;
  event.respondWith(
    fetch(request).then(function (response) {
      if (response.ok && !response.redirected && response.type === "basic") {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () {
      return caches.open(CACHE).then(function (cache) {
        return cache.match(request).then(function (hit) {
          return hit || (page ? cache.match(request, { ignoreSearch: true }) : undefined);
        });
      }).then(function (hit) {
        return hit || new Response("Offline, and this page was not opened on this phone before.", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
      });
    })
  );
});
