/* The shipment page: live timeline, the as-of slider, and the map (route drawn even
 * without tiles). */
(function () {
  "use strict";
  var publicId = JSON.parse(document.getElementById("shipment-id").textContent);
  var timelineUrl = location.pathname + "timeline/";

  function asOfQuery() {
    var params = new URLSearchParams(location.search);
    var keep = [];
    if (params.get("as_of")) keep.push("as_of=" + encodeURIComponent(params.get("as_of")));
    if (params.get("candidates")) keep.push("candidates=1");
    return keep.length ? "?" + keep.join("&") : "";
  }

  var refresh = window.MilepostThrottle(function () {
    if (new URLSearchParams(location.search).get("as_of")) return;  // a past view stays put
    htmx.ajax("GET", timelineUrl + asOfQuery(), { target: "#timeline", swap: "outerHTML" });
  }, 300);

  window.__live = window.MilepostLive({
    query: "shipment=" + encodeURIComponent(publicId),
    onMessage: function (message) { if (message.type === "timeline.changed") refresh(); },
    onGap: refresh
  });

  // As-of slider: shows the time while dragging, loads that timeline on release.
  var range = document.getElementById("asof-range");
  var out = document.getElementById("asof-out");
  if (range) {
    var fmt = function (seconds) { return new Date(seconds * 1000).toLocaleString(); };
    range.addEventListener("input", function () { out.textContent = fmt(+range.value); });
    range.addEventListener("change", function () {
      var iso = new Date(+range.value * 1000).toISOString();
      document.getElementById("asof-value").value = iso;
      document.getElementById("asof").submit();
    });
  }

  // Map: tiles only when configured; otherwise a plain background with the route and trail.
  var data = JSON.parse(document.getElementById("map-data").textContent);
  var node = document.getElementById("map");
  if (!window.L || !node) return;
  var map = L.map(node, { attributionControl: !!data.tiles, zoomSnap: 0.25 });
  if (data.tiles) L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 18 }).addTo(map);
  var bounds = [];
  var route = data.route.map(function (p) { return [p.lat, p.lon]; });
  if (route.length > 1) L.polyline(route, { color: "#1f4e8c", weight: 2, dashArray: "6 6" }).addTo(map);
  data.route.forEach(function (p) {
    L.circleMarker([p.lat, p.lon], { radius: 6, color: "#1f4e8c", fillOpacity: 0.9 })
      .bindTooltip(p.name || p.label, { permanent: p.label === "origin" || p.label === "destination", direction: "top" }).addTo(map);
    bounds.push([p.lat, p.lon]);
  });
  if (data.trail.length) {
    L.polyline(data.trail, { color: "#e07b00", weight: 3 }).addTo(map);
    var here = data.trail[data.trail.length - 1];
    L.circleMarker(here, { radius: 7, color: "#e07b00", fillOpacity: 1 }).bindTooltip("latest").addTo(map);
    bounds = bounds.concat(data.trail);
  }
  if (bounds.length) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 9 });
  else { map.setView([30, 0], 1); node.insertAdjacentHTML("beforeend", '<p class="muted small" style="position:absolute;bottom:4px;left:8px;z-index:500">no positions</p>'); }
})();
