/* The shipment list: rows and KPI tiles refresh when a shown shipment changes; bulk picks. */
(function () {
  "use strict";
  var table = document.getElementById("shipments");
  var picked = new Set();

  function visibleIds() {
    return Array.prototype.map.call(document.querySelectorAll("#rows tr[data-id]"), function (r) {
      return r.dataset.id;
    });
  }

  function syncPicks() {
    document.querySelectorAll("#rows .pick").forEach(function (box) { box.checked = picked.has(box.value); });
    var ids = document.getElementById("bulk-ids");
    if (ids) ids.value = Array.from(picked).join(",");
    var count = document.getElementById("picked");
    if (count) count.textContent = picked.size + " " + (count.dataset.label || "selected");
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.classList && box.classList.contains("pick")) {
      if (box.checked) picked.add(box.value); else picked.delete(box.value);
      syncPicks();
    } else if (box.id === "pick-all") {
      document.querySelectorAll("#rows .pick").forEach(function (b) {
        if (box.checked) picked.add(b.value); else picked.delete(b.value);
      });
      syncPicks();
    }
  });

  var changed = new Set();
  var refreshRows = window.MilepostThrottle(function () {
    var flash = new Set(changed);
    changed.clear();
    htmx.ajax("GET", table.dataset.rowsUrl, { target: "#rows", swap: "outerHTML" }).then(function () {
      syncPicks();
      document.querySelectorAll("#rows tr[data-id]").forEach(function (row) {
        if (flash.has(row.dataset.id)) row.classList.add("flash");
      });
    });
  }, 500);
  var refreshKpis = window.MilepostThrottle(function () {
    htmx.ajax("GET", table.dataset.kpisUrl, { target: "#kpis", swap: "outerHTML" });
  }, 5000);

  var firstPage = location.search.indexOf("cursor=") === -1;
  window.__live = window.MilepostLive({
    onMessage: function (message) {
      if (message.type === "exceptions.changed") { refreshKpis(); return; }
      if (message.type !== "timeline.changed") return;
      var shown = visibleIds();
      var ids = message.public_ids || [];
      var hit = ids.some(function (id) { return shown.indexOf(id) !== -1; });
      ids.forEach(function (id) { changed.add(id); });
      if (hit || message.truncated || firstPage) refreshRows();
      refreshKpis();
    },
    onGap: function () { refreshRows(); refreshKpis(); }
  });
})();
