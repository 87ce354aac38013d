(function () {
  "use strict";
  // Marks a successful load; the browser test asserts it (and that no
  // injected script ran). The page holds no trace data in scripts.
  document.body.setAttribute("data-ok", "1");
  function setAll(open) {
    var all = document.querySelectorAll("details.iter");
    for (var i = 0; i < all.length; i++) { all[i].open = open; }
  }
  var expand = document.querySelectorAll("button.expand-all");
  var collapse = document.querySelectorAll("button.collapse-all");
  for (var i = 0; i < expand.length; i++) { expand[i].addEventListener("click", function () { setAll(true); }); }
  for (var j = 0; j < collapse.length; j++) { collapse[j].addEventListener("click", function () { setAll(false); }); }
  // Following a link to an iteration opens it.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
