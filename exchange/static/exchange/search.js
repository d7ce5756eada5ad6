/* Search page enhancements (the page works without them):
 * - suggestions under the query box from /api/v1/search/suggest (ARIA combobox, arrow keys, Enter, Escape);
 * - the sort menu applies itself;
 * - on a phone the filter panel starts folded. */
(function () {
  "use strict";

  var input = document.getElementById("q");
  var list = document.getElementById("q-suggestions");
  if (input && list && window.fetch) {
    var url = input.getAttribute("data-suggest-url");
    var items = [];
    var active = -1;
    var timer = null;
    var lastAsked = "";

    var close = function () {
      list.hidden = true;
      list.innerHTML = "";
      items = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    };

    var choose = function (text) {
      input.value = text;
      close();
      input.form.submit();
    };

    var mark = function (index) {
      active = index;
      items.forEach(function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", items[index].id);
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    };

    var show = function (suggestions) {
      close();
      if (!suggestions.length) { return; }
      suggestions.slice(0, 10).forEach(function (s, i) {
        var text = typeof s === "string" ? s : (s.text || s.value || "");
        if (!text) { return; }
        var li = document.createElement("li");
        li.id = "q-suggestion-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        var label = document.createElement("span");
        label.textContent = text;  /* text, never HTML */
        li.appendChild(label);
        if (s.kind === "title") {
          var kind = document.createElement("span");
          kind.className = "kind";
          kind.textContent = list.getAttribute("data-title-label") || "";
          li.appendChild(kind);
        }
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(text);
        });
        list.appendChild(li);
        items.push(li);
      });
      if (items.length) {
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
      }
    };

    var ask = function () {
      var q = input.value.trim();
      if (!q || q === lastAsked) { if (!q) { close(); } return; }
      lastAsked = q;
      fetch(url + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data || input.value.trim() !== q) { return; }
          var suggestions = Array.isArray(data) ? data : (data.suggestions || data.results || []);
          show(suggestions);
        })
        .catch(function () { close(); });
    };

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) { return; }
      if (event.key === "ArrowDown") {
        event.preventDefault();
        mark((active + 1) % items.length);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        mark(active <= 0 ? items.length - 1 : active - 1);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(items[active].firstChild.textContent);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 100); });
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  var facets = document.getElementById("facets");
  if (facets && window.matchMedia && window.matchMedia("(max-width: 48rem)").matches) {
    facets.removeAttribute("open");
  }
})();
