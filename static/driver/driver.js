/* Milepost driver page: scans queue in IndexedDB (with their original time and an
 * idempotency key) and are sent when the network is there; nothing lost, nothing doubled. */
(function () {
  "use strict";
  var DB = "milepost-driver", STORE = "queue";
  var $ = function (id) { return document.getElementById(id); };
  var csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  var W = JSON.parse($("driver-words").textContent);  // the page's words, in its language
  var sending = false;
  function act(a) { return (W.actions && W.actions[a]) || a; }

  function db() {
    return new Promise(function (ok, fail) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "key" }); };
      req.onsuccess = function () { ok(req.result); };
      req.onerror = function () { fail(req.error); };
    });
  }
  function tx(mode, work) {
    return db().then(function (d) {
      return new Promise(function (ok, fail) {
        var t = d.transaction(STORE, mode), store = t.objectStore(STORE), out = work(store);
        t.oncomplete = function () { ok(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { fail(t.error); };
      });
    });
  }
  var all = function () { return tx("readonly", function (s) { return s.getAll(); }); };
  var put = function (item) { return tx("readwrite", function (s) { s.put(item); }); };
  var drop = function (key) { return tx("readwrite", function (s) { s.delete(key); }); };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function showQueue() {
    return all().then(function (items) {
      var ul = $("queue"); ul.textContent = "";
      items.sort(function (a, b) { return a.occurred_at < b.occurred_at ? -1 : 1; });
      items.forEach(function (it) {
        var li = document.createElement("li");
        li.textContent = act(it.action) + " " + it.reference + " · " + new Date(it.occurred_at).toLocaleTimeString(document.documentElement.lang) +
          (it.photo ? " · " + W.photo : "") + (it.signature ? " · " + W.signature : "") + (it.error ? " · " + it.error : " · " + W.waiting);
        li.dataset.key = it.key; ul.appendChild(li);
      });
      $("qcount").textContent = items.length; $("qnone").hidden = items.length > 0;
      return items;
    });
  }

  function send(it) {
    var form = new FormData();
    ["action", "reference", "occurred_at", "lat", "lon", "accuracy_m", "recipient_name", "reason"].forEach(function (k) {
      if (it[k] !== undefined && it[k] !== null && it[k] !== "") form.append(k, it[k]);
    });
    if (it.photo) form.append("photo", it.photo, "photo." + (it.photo.type.split("/")[1] || "jpg"));
    if (it.signature) form.append("signature", it.signature, "signature.png");
    return fetch("/driver/scan/", {
      method: "POST", body: form, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Idempotency-Key": it.key, "Accept": "application/json" }
    });
  }

  function flush() {
    if (sending || !navigator.onLine) return Promise.resolve();
    sending = true;
    return all().then(function (items) {
      items.sort(function (a, b) { return a.occurred_at < b.occurred_at ? -1 : 1; });
      var chain = Promise.resolve();
      items.forEach(function (it) {
        chain = chain.then(function () {
          return send(it).then(function (res) {
            if (res.ok) { $("last").textContent = W.sent + " " + act(it.action) + " " + it.reference; return drop(it.key); }
            if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
              return res.json().catch(function () { return {}; }).then(function (b) {
                it.error = (b.error && b.error.message) || (W.refused + " " + res.status); return put(it);
              });
            }
            throw new Error("retry later");
          });
        });
      });
      return chain;
    }).catch(function () { /* offline or server away: everything stays queued */ })
      .then(function () { sending = false; return showQueue(); })
      .then(function (left) { if (left && !left.some(function (i) { return i.error; }) && !left.length) refreshStops(); });
  }

  function position() {
    return new Promise(function (ok) {
      if (!navigator.geolocation) return ok(null);
      navigator.geolocation.getCurrentPosition(function (p) { ok(p.coords); }, function () { ok(null); },
        { enableHighAccuracy: true, timeout: 3000, maximumAge: 60000 });
    });
  }

  // --- signature canvas ---
  var canvas = $("sig"), ctx = canvas.getContext("2d"), drawn = false, down = false;
  ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.strokeStyle = "#14171f";
  function at(e) { var r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; }
  canvas.addEventListener("pointerdown", function (e) { down = true; var p = at(e); ctx.beginPath(); ctx.moveTo(p[0], p[1]); canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointermove", function (e) { if (!down) return; var p = at(e); ctx.lineTo(p[0], p[1]); ctx.stroke(); drawn = true; });
  canvas.addEventListener("pointerup", function () { down = false; });
  $("sig-clear").addEventListener("click", function () { ctx.clearRect(0, 0, canvas.width, canvas.height); drawn = false; });
  function signatureBlob() { return new Promise(function (ok) { if (!drawn) return ok(null); canvas.toBlob(ok, "image/png"); }); }

  // --- form ---
  var form = $("scan-form");
  function action() { return form.querySelector("[name=action]:checked").value; }
  form.addEventListener("change", function () { $("fail-box").hidden = action() !== "failed"; $("pod-box").hidden = action() !== "delivery"; });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var occurred = new Date().toISOString(), act = action();
    Promise.all([position(), signatureBlob()]).then(function (r) {
      var c = r[0], photo = $("photo").files[0] || null;
      var item = {
        key: uuid(), action: act, reference: $("ref").value.trim(), occurred_at: occurred,
        lat: c ? c.latitude.toFixed(6) : "", lon: c ? c.longitude.toFixed(6) : "", accuracy_m: c ? Math.round(c.accuracy) : "",
        recipient_name: act === "delivery" ? $("recipient").value.trim() : "", reason: act === "failed" ? $("reason").value : "",
        photo: act === "delivery" ? photo : null, signature: act === "delivery" ? r[1] : null
      };
      return put(item);
    }).then(function () {
      form.reset(); ctx.clearRect(0, 0, canvas.width, canvas.height); drawn = false;
      $("fail-box").hidden = true; $("pod-box").hidden = false;
      return showQueue();
    }).then(flush);
  });
  document.querySelectorAll("button.pick").forEach(function (b) {
    b.addEventListener("click", function () {
      $("ref").value = b.dataset.ref;
      form.querySelector("[name=action][value=" + (b.dataset.kind === "pickup" ? "pickup" : "delivery") + "]").checked = true;
      form.dispatchEvent(new Event("change")); $("ref").scrollIntoView({ block: "center" }); $("recipient").focus();
    });
  });

  // --- camera barcode scanning where the browser has BarcodeDetector ---
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    $("camera").hidden = false;
    $("camera").addEventListener("click", function () {
      var video = $("video"), detector = new window.BarcodeDetector();
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream; video.hidden = false; video.play();
        var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
        (function look() {
          detector.detect(video).then(function (codes) {
            if (codes.length) { $("ref").value = codes[0].rawValue; stop(); } else if (!video.hidden) requestAnimationFrame(look);
          }).catch(stop);
        })();
      }).catch(function () { $("camera").hidden = true; });
    });
  }

  // --- stops and map (Leaflet; tiles only when configured, else a plain background) ---
  var map = null, layer = null, me = null;
  function colour(state) {
    var brand = getComputedStyle(document.documentElement).getPropertyValue("--brand").trim();
    return state === "depot" ? brand : state === "done" ? "#0b7a3e" : state === "failed" ? "#a32000" : state === "delayed" ? "#b34700" : "#14171f";
  }
  function pin(label, state) {
    return window.L.divIcon({ className: "pin", iconSize: [26, 26], iconAnchor: [13, 13],
      html: '<span style="background:' + colour(state) + '">' + String(label).replace(/[<&>"]/g, "") + "</span>" });
  }
  function drawMap(stops, start, here) {
    var node = $("map");
    if (!window.L) return;  // the page works without its map
    if (!stops.length && !here) { node.parentNode.hidden = true; return; }
    node.parentNode.hidden = false;
    if (!map) {
      map = window.L.map(node, { attributionControl: !!node.dataset.tiles, zoomSnap: 0.25 });
      if (node.dataset.tiles) window.L.tileLayer(node.dataset.tiles, { attribution: node.dataset.attribution, maxZoom: 19 }).addTo(map);
      layer = window.L.layerGroup().addTo(map);
    }
    layer.clearLayers();
    var line = [], bounds = [];
    if (start) { line.push([start.lat, start.lon]); window.L.marker([start.lat, start.lon], { icon: pin("⌂", "depot"), title: W.start, keyboard: false }).addTo(layer); }
    stops.forEach(function (s) {
      var at = [s.lat, s.lon]; bounds.push(at);
      if (s.state !== "done" && s.state !== "failed") line.push(at);
      window.L.marker(at, { icon: pin(s.sequence, s.state), title: W.stop + " " + s.sequence + " · " + (s.name || s.reference), keyboard: false }).addTo(layer);
    });
    if (here) line.unshift([here.lat, here.lon]);
    if (line.length > 1) window.L.polyline(line, { color: colour("depot"), weight: 3, opacity: .85 }).addTo(layer);
    bounds = bounds.concat(line);
    me = null; showMe(here);
    if (bounds.length) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16 });
  }
  function showMe(here) {
    if (!map || !here) return;
    if (me) { me.setLatLng([here.lat, here.lon]); return; }
    me = window.L.circleMarker([here.lat, here.lon], { radius: 8, color: "#fff", weight: 3, fillColor: "#0b5fff", fillOpacity: 1 })
      .bindTooltip(W.you).addTo(layer);
  }
  function meta(s) {
    return s.kind_label + " · " + s.reference + (s.eta ? " · " + W.eta + " " + s.eta : "") + (s.window ? " · " + W.window + " " + s.window : "");
  }
  function refreshStops() {
    if (!navigator.onLine) return Promise.resolve();
    return fetch("/driver/stops/", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) return;
      var ol = $("stops");
      if (data.stops.some(function (s) { return !ol.querySelector('.stop[data-id="' + s.id + '"]'); })) { location.reload(); return; }
      data.stops.forEach(function (s) {  // in the route's order: a dispatcher may have moved them
        var li = ol.querySelector('.stop[data-id="' + s.id + '"]');
        li.className = "stop " + s.state; ol.appendChild(li);
        li.querySelector(".seq").textContent = s.sequence;
        li.querySelector(".meta").textContent = meta(s);
        var badge = li.querySelector(".badge"); badge.className = "badge " + s.state; badge.textContent = s.label;
      });
      $("count").textContent = data.stops.length; $("km").textContent = Number(data.km).toFixed(1);
      drawMap(data.stops, data.start, data.me);
    }).catch(function () {});
  }
  var initial = JSON.parse($("route-data").textContent);
  drawMap(initial.stops, initial.start, initial.me);

  // --- live: a dispatcher's re-order arrives over /ws/driver/ (the page re-reads its stops) ---
  var tries = 0;
  function live() {
    if (!window.WebSocket) return;
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/driver/");
    ws.onopen = function () { if (tries) refreshStops(); tries = 0; };
    ws.onmessage = function (e) {
      var m; try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m.type !== "route.changed") return;
      refreshStops().then(function () { var n = $("rerouted"); n.textContent = W.rerouted; n.hidden = false; });
    };
    ws.onclose = function (e) { if (e.code === 4401 || e.code === 4403) return; tries++; setTimeout(live, Math.min(30000, 1000 * tries)); };
  }
  live();

  // --- network state, GPS pings, service worker ---
  function net() { var n = $("net"); n.textContent = navigator.onLine ? W.online : W.offline; n.className = "net" + (navigator.onLine ? "" : " off"); }
  window.addEventListener("online", function () { net(); flush(); });
  window.addEventListener("offline", net);
  net(); showQueue().then(flush);
  setInterval(flush, 15000);
  if (navigator.geolocation) {
    setInterval(function () {
      if (!navigator.onLine) return;
      position().then(function (c) {
        if (!c) return; showMe({ lat: c.latitude, lon: c.longitude }); var f = new FormData(); f.append("lat", c.latitude); f.append("lon", c.longitude); f.append("at", new Date().toISOString());
        fetch("/driver/position/", { method: "POST", body: f, credentials: "same-origin", headers: { "X-CSRFToken": csrf } }).catch(function () {});
      });
    }, 30000);
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/driver/sw.js", { scope: "/driver/" }).catch(function () {});
  window.milepostDriver = { flush: flush, queue: showQueue, refresh: refreshStops, map: function () { return map; } };
})();
