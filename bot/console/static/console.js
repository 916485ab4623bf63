/* Derechos organizer console: small progressive enhancements over pages that work without it.
   - the audience count follows the checkboxes;
   - each alert text shows its phone preview and segment count as it is typed;
   - progress bars (sending, imports) refresh themselves.
   Plain JavaScript, no library, served by the app (the CSP allows scripts from 'self' only). */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function replaceWith(target, html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var fresh = holder.firstElementChild;
    if (fresh && target.parentNode) {
      target.parentNode.replaceChild(fresh, target);
    }
    return fresh;
  }

  function setUpAlertForm(form) {
    var countUrl = form.getAttribute("data-count-url");
    var previewUrl = form.getAttribute("data-preview-url");
    var updateCount = debounce(function () {
      var params = new URLSearchParams();
      ["langs", "channels", "tags"].forEach(function (name) {
        form.querySelectorAll("input[name=" + name + "]:checked").forEach(function (box) {
          params.append(name, box.value);
        });
      });
      fetch(countUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          var current = document.getElementById("audience-count");
          if (html && current) { replaceWith(current, html); }
        })
        .catch(function () {});
    }, 250);
    form.querySelectorAll("input[name=langs], input[name=channels], input[name=tags]").forEach(function (box) {
      box.addEventListener("change", updateCount);
    });

    function preview(area) {
      var body = new FormData();
      body.append("lang", area.getAttribute("data-preview"));
      body.append("text", area.value);
      body.append("when", (form.querySelector("[name=when]") || {}).value || "");
      body.append("timezone", (form.querySelector("[name=timezone]") || {}).value || "");
      body.append("csrf_token", csrfToken(form));
      fetch(previewUrl, { method: "POST", body: body, credentials: "same-origin",
                          headers: { "X-CSRFToken": csrfToken(form) } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          var current = document.getElementById("preview-" + area.getAttribute("data-preview"));
          if (html && current) { replaceWith(current, html); }
        })
        .catch(function () {});
    }
    form.querySelectorAll("textarea[data-preview]").forEach(function (area) {
      area.addEventListener("input", debounce(function () { preview(area); }, 300));
    });
  }

  function poll(element) {
    var url = element.getAttribute("data-poll");
    if (!url) { return; }
    setTimeout(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = replaceWith(element, html);
          if (fresh && fresh.getAttribute("data-poll")) {
            poll(fresh);
          } else {
            window.location.reload();   // finished: show the delivery figures and charts
          }
        })
        .catch(function () { poll(element); });
    }, 1500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("alert-form");
    if (form) { setUpAlertForm(form); }
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
