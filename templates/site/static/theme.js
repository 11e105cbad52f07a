// The light/dark toggle. The choice is remembered (localStorage) and set on <html data-theme>
// before the first paint (this file is loaded without defer); without a choice the system's
// preference (prefers-color-scheme) applies, and without scripts the toggle stays hidden.
(function () {
  "use strict";
  var KEY = "sigbot-theme";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { /* storage off: the system's choice */ }
  if (saved === "light" || saved === "dark") { root.setAttribute("data-theme", saved); }
  function current() {
    var chosen = root.getAttribute("data-theme");
    if (chosen) { return chosen; }
    return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) { return; }
    function show() {
      var dark = current() === "dark";
      button.textContent = dark ? "Light" : "Dark";
      button.setAttribute("aria-pressed", dark ? "true" : "false");
    }
    button.hidden = false;
    show();
    button.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem(KEY, next); } catch (e) { /* not remembered, still switched */ }
      show();
    });
  });
})();
