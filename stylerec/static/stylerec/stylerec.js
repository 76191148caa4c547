/* stylerec: impression beacons and the "see it in my style" toggle. No dependencies.
   Links already record clicks server-side (/r/...), so nothing here is needed for them. */
(function () {
  "use strict";
  if (window.stylerecLoaded) { return; }
  window.stylerecLoaded = true;

  function sendImpressions(block) {
    if (block.dataset.stylerecSeen) { return; }
    block.dataset.stylerecSeen = "1";
    var ids = Array.prototype.map.call(block.querySelectorAll("[data-product]"), function (li) {
      return li.dataset.product;
    });
    var data = new FormData();
    data.append("csrfmiddlewaretoken", block.dataset.csrf || "");
    data.append("block", block.dataset.stylerecBlock);
    data.append("profile_id", block.dataset.profile || "");
    data.append("product_ids", ids.join(","));
    var url = block.dataset.impressionsUrl;
    if (navigator.sendBeacon && navigator.sendBeacon(url, data)) { return; }
    fetch(url, { method: "POST", body: data, credentials: "same-origin", keepalive: true });
  }

  function toggleStyle(button) {
    var on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    var block = button.closest("[data-stylerec-block]");
    block.querySelectorAll("img[data-styled]").forEach(function (img) {
      img.src = on ? img.dataset.styled : (img.dataset.original || img.dataset.styled);
    });
  }

  function init() {
    var blocks = document.querySelectorAll("[data-stylerec-block]");
    if ("IntersectionObserver" in window) {
      var seen = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { sendImpressions(entry.target); seen.unobserve(entry.target); }
        });
      }, { threshold: 0.3 });
      blocks.forEach(function (block) { seen.observe(block); });
    } else {
      blocks.forEach(sendImpressions);
    }
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-stylerec-toggle]");
      if (button) { toggleStyle(button); }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
