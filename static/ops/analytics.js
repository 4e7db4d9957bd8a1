/* Volumes over time with uPlot (vendored); the other charts are server-rendered bars. */
(function () {
  "use strict";
  var rows = JSON.parse(document.getElementById("volumes-data").textContent);
  var node = document.getElementById("volumes-chart");
  if (!rows.length || !window.uPlot || !node) return;
  var xs = rows.map(function (r) { return Date.parse(r.day + "T00:00:00Z") / 1000; });
  var ys = rows.map(function (r) { return r.shipments; });
  var width = Math.max(280, node.clientWidth || 500);
  new uPlot({
    width: width, height: 220,
    scales: { x: { time: true } },
    legend: { show: false },
    series: [{}, { label: "shipments", stroke: "#1f4e8c", fill: "rgba(31,78,140,.12)", width: 2 }],
    axes: [{ stroke: "#5d6778" }, { stroke: "#5d6778" }]
  }, [xs, ys], node);
})();
