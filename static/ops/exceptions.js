/* The exception queue refreshes itself when exceptions open or resolve (live message
 * "exceptions.changed" on the tenant's ops group); not while rows are ticked for an action. */
(function () {
  "use strict";
  var pending = false;
  var refresh = window.MilepostThrottle(function () {
    if (document.querySelector('#exception-form input[name="ids"]:checked')) { pending = true; return; }
    pending = false;
    htmx.ajax("GET", location.pathname, { target: "#exception-live", select: "#exception-live", swap: "outerHTML" });
  }, 1000);
  document.addEventListener("change", function () {
    if (pending && !document.querySelector('#exception-form input[name="ids"]:checked')) refresh();
  });
  window.__live = window.MilepostLive({
    onMessage: function (message) { if (message.type === "exceptions.changed") refresh(); },
    onGap: refresh
  });
})();
