/* The dispatcher's route pages. On one route: pending stops move by drag and drop or by
 * their up/down buttons (the focus stays on the button, the new position is announced);
 * "Save order" posts the rows' order (hidden inputs in DOM order). Without this script the
 * up/down buttons post a move themselves and the server saves it. Both pages follow the
 * tenant's "route.changed" messages: a list or an unchanged route reloads, a route with
 * unsaved moves says it changed elsewhere instead. */
(function () {
  "use strict";
  var form = document.getElementById("order-form");
  var body = form ? form.querySelector("#stops tbody") : null;
  var dirty = false;
  var routeId = form ? Number(form.dataset.route) : null;

  function movable() { return Array.prototype.slice.call(body.querySelectorAll("tr.movable")); }

  function renumber() {
    var rows = body.querySelectorAll("tr[data-id]");
    rows.forEach(function (tr, i) { var cell = tr.querySelector(".seq"); cell.firstChild.nodeValue = String(i + 1); });
    var list = movable();
    list.forEach(function (tr, i) {
      var up = tr.querySelector("button.up"), down = tr.querySelector("button.down");
      if (up) up.disabled = i === 0;
      if (down) down.disabled = i === list.length - 1;
    });
  }

  function changed(tr) {
    dirty = true;
    document.getElementById("dirty").hidden = false;
    body.querySelectorAll("tr.movable td.eta").forEach(function (td) { td.classList.add("stale"); });
    tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash");
    renumber();
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-id]"));
    var say = document.getElementById("announce");
    say.textContent = say.dataset.moved.replace("{n}", rows.indexOf(tr) + 1).replace("{total}", rows.length);
  }

  function step(tr, direction) {
    var list = movable(), i = list.indexOf(tr), j = direction === "up" ? i - 1 : i + 1;
    if (i < 0 || j < 0 || j >= list.length) return;
    if (direction === "up") body.insertBefore(tr, list[j]); else body.insertBefore(list[j], tr);
    changed(tr);
  }

  if (body) {
    body.addEventListener("click", function (event) {
      var button = event.target.closest("button[name=move]");
      if (!button) return;
      event.preventDefault();
      var tr = button.closest("tr"), direction = button.classList.contains("up") ? "up" : "down";
      step(tr, direction);
      // keep the focus where the keyboard user is: on the same button, or its twin at an end
      var again = tr.querySelector("button." + direction);
      (again.disabled ? tr.querySelector("button." + (direction === "up" ? "down" : "up")) : again).focus();
    });

    var dragged = null;
    body.addEventListener("dragstart", function (event) {
      var tr = event.target.closest && event.target.closest("tr.movable");
      if (!tr) return;
      dragged = tr; tr.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", tr.dataset.id);
    });
    body.addEventListener("dragover", function (event) {
      if (!dragged) return;
      var over = event.target.closest("tr.movable");
      if (!over || over === dragged) return;
      event.preventDefault();
      var box = over.getBoundingClientRect(), after = event.clientY > box.top + box.height / 2;
      body.insertBefore(dragged, after ? over.nextSibling : over);
    });
    body.addEventListener("drop", function (event) { if (dragged) event.preventDefault(); });
    body.addEventListener("dragend", function () {
      if (!dragged) return;
      var tr = dragged; dragged = null; tr.classList.remove("dragging");
      changed(tr);
    });
    form.addEventListener("submit", function (event) {
      // the save button posts the order as the rows stand now (no "move")
      if (event.submitter && event.submitter.name === "move") event.preventDefault();
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirty && !form.dataset.saving) { event.preventDefault(); event.returnValue = ""; }
    });
    form.addEventListener("submit", function () { form.dataset.saving = "1"; });
    renumber();
  }

  if (!window.MilepostLive) return;
  var reloading = false;
  window.__live = window.MilepostLive({
    onMessage: function (message) {
      if (message.type !== "route.changed" || reloading) return;
      if (routeId !== null && message.route !== routeId) return;
      if (dirty) { document.getElementById("changed-elsewhere").hidden = false; return; }
      reloading = true;
      setTimeout(function () { location.reload(); }, 300);
    },
    onGap: function () { if (!dirty) location.reload(); }
  });
})();
