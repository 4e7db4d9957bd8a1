/* The code table editor (/ops/integrations/<id>/codes/): "Add row" copies a blank row,
 * "remove" clears a row and hides it (a cleared row is dropped when the form is sent).
 * Without this script the page still works: blank rows add, cleared rows remove. */
(function () {
  "use strict";
  var table = document.querySelector("#code-rows tbody");
  var add = document.getElementById("add-row");
  if (!table || !add) return;
  add.addEventListener("click", function () {
    var blank = table.querySelector("tr.blank");
    if (!blank) return;
    var row = blank.cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    row.querySelectorAll("select").forEach(function (select) { select.value = ""; });
    table.appendChild(row);
    row.querySelector("input").focus();
  });
  table.addEventListener("click", function (event) {
    var button = event.target.closest(".remove-row");
    if (!button) return;
    var row = button.closest("tr");
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    row.querySelectorAll("select").forEach(function (select) { select.value = ""; });
    row.hidden = true;
  });
})();
