/* Milepost driver page: scans queue in IndexedDB (with their original time and an
 * idempotency key) and are sent when the network is there; nothing lost, nothing doubled. */
(function () {
  "use strict";
  var DB = "milepost-driver", STORE = "queue";
  var $ = function (id) { return document.getElementById(id); };
  var csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  var sending = false;

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
        li.textContent = it.action + " " + it.reference + " · " + new Date(it.occurred_at).toLocaleTimeString() +
          (it.photo ? " · photo" : "") + (it.signature ? " · signature" : "") + (it.error ? " · " + it.error : " · waiting");
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
            if (res.ok) { $("last").textContent = "Sent: " + it.action + " " + it.reference; return drop(it.key); }
            if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
              return res.json().catch(function () { return {}; }).then(function (b) {
                it.error = (b.error && b.error.message) || ("refused " + res.status); return put(it);
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

  // --- stops and map ---
  function drawMap(stops, start) {
    var svg = $("map"); if (!stops.length) { svg.parentNode.hidden = true; return; }
    if (start) stops = [{ lat: start.lat, lon: start.lon, sequence: "⌂", state: "depot" }].concat(stops);
    var la = stops.map(function (s) { return s.lat; }), lo = stops.map(function (s) { return s.lon; });
    var a = Math.min.apply(0, la) - .005, b = Math.max.apply(0, la) + .005, c = Math.min.apply(0, lo) - .005, d = Math.max.apply(0, lo) + .005;
    var xy = function (s) { return [20 + 360 * (s.lon - c) / (d - c), 180 - 160 * (s.lat - a) / (b - a)]; };
    var ns = "http://www.w3.org/2000/svg", pts = stops.map(xy);
    svg.innerHTML = '<defs><pattern id="g" width="20" height="20" patternUnits="userSpaceOnUse"><path d="M20 0H0V20" fill="none" stroke="#d3dce6"/></pattern></defs><rect width="400" height="200" fill="url(#g)"/>';
    var line = document.createElementNS(ns, "polyline"); line.setAttribute("points", pts.map(function (p) { return p.join(","); }).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", getComputedStyle(document.documentElement).getPropertyValue("--brand")); line.setAttribute("stroke-width", "3"); svg.appendChild(line);
    stops.forEach(function (s, i) {
      var g = document.createElementNS(ns, "g"), circle = document.createElementNS(ns, "circle"), t = document.createElementNS(ns, "text");
      circle.setAttribute("cx", pts[i][0]); circle.setAttribute("cy", pts[i][1]); circle.setAttribute("r", 11);
      circle.setAttribute("fill", s.state === "depot" ? getComputedStyle(document.documentElement).getPropertyValue("--brand") : s.state === "done" ? "#0b7a3e" : s.state === "failed" ? "#a32000" : s.state === "delayed" ? "#b34700" : "#14171f");
      t.setAttribute("x", pts[i][0]); t.setAttribute("y", pts[i][1] + 4); t.setAttribute("text-anchor", "middle"); t.setAttribute("font-size", "11"); t.setAttribute("fill", "#fff"); t.textContent = s.sequence;
      g.appendChild(circle); g.appendChild(t); svg.appendChild(g);
    });
  }
  function refreshStops() {
    if (!navigator.onLine) return;
    fetch("/driver/stops/", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) return; drawMap(data.stops, data.start);
      data.stops.forEach(function (s) {
        var li = document.querySelector('.stop[data-id="' + s.id + '"]'); if (!li) return;
        li.className = "stop " + s.state; var badge = li.querySelector(".badge"); badge.className = "badge " + s.state;
        badge.textContent = s.label;
      });
    }).catch(function () {});
  }
  var initial = JSON.parse($("route-data").textContent);
  drawMap(initial.stops, initial.start);

  // --- network state, GPS pings, service worker ---
  function net() { var n = $("net"); n.textContent = navigator.onLine ? "online" : "offline"; n.className = "net" + (navigator.onLine ? "" : " off"); }
  window.addEventListener("online", function () { net(); flush(); });
  window.addEventListener("offline", net);
  net(); showQueue().then(flush);
  setInterval(flush, 15000);
  if (navigator.geolocation) {
    setInterval(function () {
      if (!navigator.onLine) return;
      position().then(function (c) {
        if (!c) return; var f = new FormData(); f.append("lat", c.latitude); f.append("lon", c.longitude); f.append("at", new Date().toISOString());
        fetch("/driver/position/", { method: "POST", body: f, credentials: "same-origin", headers: { "X-CSRFToken": csrf } }).catch(function () {});
      });
    }, 30000);
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/driver/sw.js", { scope: "/driver/" }).catch(function () {});
  window.milepostDriver = { flush: flush, queue: showQueue };
})();
