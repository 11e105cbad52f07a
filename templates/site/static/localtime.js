// Shows the UTC times of the page (<time data-local datetime="...Z">) in the reader's own
// timezone, and hides meetings of a schedule list that have already started. Without
// scripts the page shows UTC, which is correct too.
(function () {
  "use strict";
  var now = Date.now();
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, {
      weekday: "short", year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
  } catch (e) { return; }
  // data-local="date": the day alone (a table column of dates stays one line wide at 1280 px)
  var dayFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var t = new Date(el.getAttribute("datetime"));
    if (isNaN(t.getTime())) { return; }
    el.title = el.getAttribute("data-local") === "date" ? fmt.format(t) : el.textContent;  // keep the full time at hand
    el.textContent = (el.getAttribute("data-local") === "date" ? dayFmt : fmt).format(t);
  });
  document.querySelectorAll("[data-upcoming] > li[data-start]").forEach(function (li) {
    var t = new Date(li.getAttribute("data-start"));
    if (!isNaN(t.getTime()) && t.getTime() < now) { li.hidden = true; }
  });
})();
