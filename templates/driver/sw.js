{% load static %}// Milepost driver page service worker: caches the shell, never the data or the scans.
const SHELL = "milepost-driver-v2";
const FILES = ["/driver/", "{% static 'driver/driver.js' %}", "{% static 'driver/driver.css' %}", "{% static 'vendor/leaflet-1.9.4/leaflet.js' %}", "{% static 'vendor/leaflet-1.9.4/leaflet.css' %}", "{% static 'driver/icon.svg' %}", "/driver/manifest.webmanifest"];
self.addEventListener("install", (e) => { e.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting())); });
self.addEventListener("activate", (e) => { e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k)))).then(() => self.clients.claim())); });
self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return; // scans go through the page's own queue
  const url = new URL(req.url);
  if (url.pathname === "/driver/" || FILES.includes(url.pathname)) {
    // network first (fresh stops), the cached shell when offline
    e.respondWith(fetch(req).then((res) => { const copy = res.clone(); caches.open(SHELL).then((c) => c.put(req, copy)); return res; }).catch(() => caches.match(req)));
  }
});
