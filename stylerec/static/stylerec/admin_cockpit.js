/* The profile form's sliders: each range slider mirrors the number box it stands beside (the
   number box carries the field's name and is what the form posts; the server validates it). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-stylerec-slider-for]").forEach(function (slider) {
      var box = document.getElementById(slider.dataset.stylerecSliderFor);
      if (!box) { return; }
      slider.addEventListener("input", function () { box.value = slider.value; });
      box.addEventListener("input", function () { if (box.value !== "") { slider.value = box.value; } });
    });
  });
})();
