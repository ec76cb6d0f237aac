// The review's tables and figures in the browser.
//
// 1. Sortable tables (class "sortable"): each column heading becomes a button, so a table sorts
//    by mouse or keyboard (Tab to a heading, Enter or Space); aria-sort tells screen readers the
//    order. Numbers sort numerically (typographic minus, no-break spaces and thousands commas
//    understood; an interval sorts by its estimate), other cells alphabetically; empty cells last.
// 2. Scroll cues: a table or figure wider than its column scrolls inside its own box; a line
//    above the box says so while it overflows (updated when the window is resized).
// 3. Collapsed cells (Learn solutions, model answers): the toggle's accessible name is the text it
//    shows ("Show the solution"), not the generic label the notebook renderer gives every toggle.
(function () {
  "use strict";

  function sortKey(text) {
    var plain = text.replace(/\u2212/g, "-").replace(/[\u00a0\s,]/g, " ").trim();
    var match = plain.replace(/ /g, "").match(/^[<>=\u2264\u2265]?(-?\d+(\.\d+)?)/);
    return { empty: plain === "", number: match ? parseFloat(match[1]) : NaN, text: plain.toLowerCase() };
  }

  function compare(a, b) {
    if (a.empty || b.empty) { return a.empty === b.empty ? 0 : (a.empty ? 1 : -1); }
    if (!isNaN(a.number) && !isNaN(b.number)) { return a.number - b.number; }
    return a.text.localeCompare(b.text);
  }

  function makeSortable(table) {
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var body = table.tBodies[0];
    if (!body) { return; }
    headers.forEach(function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      var label = document.createElement("span");
      label.textContent = th.textContent.trim();
      var mark = document.createElement("span");
      mark.className = "sort-mark";
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = "\u2195";
      button.appendChild(label);
      button.appendChild(mark);
      button.title = "Sort by " + label.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (h) {
          h.removeAttribute("aria-sort");
          var m = h.querySelector(".sort-mark");
          if (m) { m.textContent = "\u2195"; }
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        mark.textContent = ascending ? "\u25b2" : "\u25bc";
        var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
          return { row: row, index: index, key: sortKey(row.cells[col] ? row.cells[col].textContent : "") };
        });
        rows.sort(function (a, b) {
          var c = compare(a.key, b.key);
          if (!a.key.empty && !b.key.empty && !ascending) { c = -c; }
          return c || a.index - b.index;
        });
        rows.forEach(function (r) { body.appendChild(r.row); });
      });
    });
  }

  var SCROLLERS = ".pst-scrollable-table-container, figure.review-figure > a.image-reference";

  function updateScrollCues() {
    document.querySelectorAll(SCROLLERS).forEach(function (box) {
      var over = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("is-overflowing", over);
      var hint = box.previousElementSibling;
      var has = hint && hint.classList.contains("scroll-hint");
      if (!has) {
        if (!over) { return; }
        hint = document.createElement("p");
        hint.className = "scroll-hint";
        hint.setAttribute("aria-hidden", "true");
        hint.textContent = box.tagName === "A"
          ? "Wider than the page: scroll sideways, or select the figure to open it full size."
          : "Wider than the page: scroll sideways to see every column.";
        box.parentNode.insertBefore(hint, box);
      }
      hint.hidden = !over;
    });
  }

  function nameToggles() {
    document.querySelectorAll('details > summary[aria-label="Toggle hidden content"]').forEach(function (summary) {
      if (summary.textContent.trim()) { summary.removeAttribute("aria-label"); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(makeSortable);
    nameToggles();
    updateScrollCues();
    window.addEventListener("load", updateScrollCues);
    window.addEventListener("resize", updateScrollCues);
  });
})();
