/* The driver's page's service worker, served at /jobs/driver/sw.js (scope /jobs/driver/):
   the page and its static files, network first, kept for when the phone is offline, so
   the driver can reopen the page in a dead zone and its queued taps are still sent later.
   Writes (POST) are never touched: the page's own queue replays them. */
"use strict";
var CACHE = "lastmile-driver-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf("lastmile-driver-") === 0 && n !== CACHE; }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
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
      // Only a real page is kept: not a redirect to the login (a signed-out phone).
      if (response.ok && !response.redirected && response.type === "basic") {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(request).then(function (hit) {
        return hit || new Response("Offline, and this page was not opened on this phone before.", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
      });
    })
  );
});
