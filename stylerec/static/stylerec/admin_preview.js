/* Live preview on the RankingProfile change page: post the whole (unsaved) form to the preview
   view and show the answer. Nothing is saved. */
(function () {
  "use strict";
  function run() {
    var panel = document.getElementById("stylerec-preview");
    var target = document.getElementById("stylerec-preview-results");
    var form = panel.closest("form");
    target.textContent = "Ranking…";
    fetch(panel.dataset.previewUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) { target.innerHTML = html; })
      .catch(function (error) { target.textContent = "Preview failed: " + error; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("stylerec-preview-run");
    if (button) { button.addEventListener("click", run); }
  });
})();
