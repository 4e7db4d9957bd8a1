/* Milepost live updates: one websocket per page on its own origin (or the configured URL),
 * reconnecting with backoff and resuming from the last sequence number it saw, so nothing
 * published meanwhile is missed (the server replays it, tenancy/replay.py). */
(function () {
  "use strict";
  var FINAL = { 4401: true, 4403: true, 4404: true };

  function baseUrl() {
    var node = document.getElementById("ws-url");
    var configured = node ? JSON.parse(node.textContent) : "";
    if (configured) return configured;
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/ops/";
  }

  window.MilepostLive = function (opts) {
    var last = null, socket = null, delay = 500, paused = false, timer = null;
    var status = document.getElementById(opts.statusId || "live");
    var labels = status ? status.dataset : {};

    function show(state, text) {
      if (!status) return;
      status.className = "live " + state;
      status.textContent = text;
    }

    function connect() {
      timer = null;
      if (paused) return;
      var params = [];
      if (opts.query) params.push(opts.query);
      if (last !== null) params.push("since=" + last);
      socket = new WebSocket(baseUrl() + (params.length ? "?" + params.join("&") : ""));
      socket.onopen = function () { delay = 500; show("on", labels.on || "live"); };
      socket.onmessage = function (event) {
        var message = JSON.parse(event.data);
        if (message.type === "hello") { if (last === null) last = message.seq; return; }
        if (message.type === "resumed") { if (message.gap && opts.onGap) opts.onGap(); return; }
        if (typeof message.seq === "number") {
          if (last !== null && message.seq <= last) return;  // already seen (replay overlap)
          last = message.seq;
        }
        opts.onMessage(message);
      };
      socket.onclose = function (event) {
        socket = null;
        if (FINAL[event.code]) { show("off", labels.off || "offline"); return; }
        show("off", labels.reconnecting || "reconnecting…");
        if (!paused) { timer = setTimeout(connect, delay); delay = Math.min(delay * 2, 10000); }
      };
    }

    connect();
    return {
      lastSeq: function () { return last; },
      connected: function () { return socket !== null && socket.readyState === 1; },
      /* Cut the connection (tests, a laptop lid): nothing reconnects until resume(). */
      pause: function () { paused = true; if (timer) clearTimeout(timer); if (socket) socket.close(); },
      resume: function () { paused = false; if (!socket && !timer) connect(); }
    };
  };

  /* Run fn at most once per `wait` ms, trailing call included. */
  window.MilepostThrottle = function (fn, wait) {
    var pending = false, lastRun = 0;
    return function () {
      if (pending) return;
      var due = Math.max(0, lastRun + wait - Date.now());
      pending = true;
      setTimeout(function () { pending = false; lastRun = Date.now(); fn(); }, due);
    };
  };
})();
