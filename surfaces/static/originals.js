// The originals' grid (surfaces/web_originals.py): keep or reject each frame from the keyboard. K keeps, X (or R)
// rejects, and the focus moves on to the next frame; the arrows move between frames. The form works without it.
(function () {
  "use strict";
  var frames = Array.prototype.slice.call(document.querySelectorAll(".frame"));

  function mark(frame, verdict) {
    var radio = frame.querySelector('input[type="radio"][value="' + verdict + '"]');
    if (radio) { radio.checked = true; }
    frame.classList.toggle("reject", verdict === "reject");
  }

  function move(frame, step) {
    var next = frames[frames.indexOf(frame) + step];
    if (next) { next.focus(); }
  }

  frames.forEach(function (frame) {
    frame.querySelectorAll('input[type="radio"]').forEach(function (radio) {
      radio.addEventListener("change", function () { mark(frame, radio.value); });
    });
    frame.addEventListener("keydown", function (event) {
      if (event.target.matches("input[type=text], textarea, select") || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var key = event.key.toLowerCase();
      if (key === "k") { mark(frame, "keep"); move(frame, 1); }
      else if (key === "x" || key === "r") { mark(frame, "reject"); move(frame, 1); }
      else if (key === "arrowright" || key === "arrowdown") { move(frame, 1); }
      else if (key === "arrowleft" || key === "arrowup") { move(frame, -1); }
      else { return; }
      event.preventDefault();
    });
  });
  if (frames.length) { frames[0].focus(); }
})();
