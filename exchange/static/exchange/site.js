/* Behaviour shared by every page (a static file: the Content-Security-Policy allows no inline script).
 * - a <select data-autosubmit> submits its form when changed (the language menu; <noscript> has a button). */
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) { select.form.submit(); }
    });
  });
})();
