/* SLA countdowns: every element with data-due (Unix seconds) shows the time left until then,
 * ticking each second, and turns "overdue" (badge bad) once it has passed. The texts come
 * translated from the page (data-due-text / data-overdue-text, "%s" for the time). Elements
 * swapped in later (the queue refreshes itself) are picked up on the next tick. */
(function () {
  "use strict";
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function span(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
    var m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + two(m) + " min";
    return m + " min " + two(s) + " s";
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var due = parseFloat(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = due - now, overdue = left < 0;
      var text = (overdue ? el.getAttribute("data-overdue-text") : el.getAttribute("data-due-text")) || "%s";
      el.textContent = text.replace("%s", span(Math.abs(left)));
      el.classList.toggle("overdue", overdue);
      el.classList.toggle("badge", overdue);
      el.classList.toggle("bad", overdue);
      el.setAttribute("data-ticked", "1");
    });
  }
  tick();
  window.setInterval(tick, 1000);
})();
