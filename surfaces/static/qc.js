// The QC review page (surfaces/web_qc.py): pass or reject each photo from the keyboard, mark the region to fix by
// dragging over the after, see any part at 100% by clicking. The form works without it (no region, no zoom).
(function () {
  "use strict";
  var photos = Array.prototype.slice.call(document.querySelectorAll(".qc-photo"));
  var CLICK = 5;   // a drag shorter than this (px) is a click: the 100% view

  function fraction(frame, event) {
    var box = frame.getBoundingClientRect();
    return {x: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
            y: Math.min(1, Math.max(0, (event.clientY - box.top) / box.height)), px: event.clientX, py: event.clientY};
  }

  function verdict(photo) {
    var reason = photo.querySelector("select.reason").value;
    var tag = photo.querySelector(".verdict");
    tag.textContent = reason === "pass" ? "pass" : "reject: " + reason.replace(/_/g, " ");
    tag.setAttribute("data-verdict", reason === "pass" ? "pass" : "reject");
    photo.classList.toggle("rejected", reason !== "pass");
  }

  function setRegion(photo, r) {
    var rect = photo.querySelector("rect.mark"), input = photo.querySelector("input.region");
    var said = photo.querySelector(".region-said");
    if (!r) {
      rect.setAttribute("visibility", "hidden");
      input.value = "";
      said.textContent = "";
      return;
    }
    ["x", "y"].forEach(function (k) { rect.setAttribute(k, r[k]); });
    rect.setAttribute("width", r.w);
    rect.setAttribute("height", r.h);
    rect.setAttribute("visibility", "visible");
    input.value = [r.x, r.y, r.w, r.h].map(function (v) { return v.toFixed(4); }).join(",");
    said.textContent = "Region marked: " + Math.round(r.w * 100) + "% x " + Math.round(r.h * 100) + "% at " +
      Math.round(r.x * 100) + "%, " + Math.round(r.y * 100) + "%";
  }

  function decide(photo, reject) {
    var select = photo.querySelector("select.reason");
    if (reject && select.value === "pass") { select.selectedIndex = 1; }
    if (!reject) { select.value = "pass"; setRegion(photo, null); }
    verdict(photo);
  }

  function zoomTo(photo, frame, at) {
    var panel = photo.querySelector(".zoom"), img = panel.querySelector("img");
    panel.hidden = false;
    // as wide as the panel, so one file pixel is one CSS pixel
    var w = Math.min(1600, Math.max(200, panel.clientWidth)), h = Math.round(w * 0.55);
    img.src = frame.getAttribute("data-zoom") + "?x=" + at.x.toFixed(4) + "&y=" + at.y.toFixed(4) + "&w=" + w + "&h=" + h;
  }

  function closeZoom(photo) { photo.querySelector(".zoom").hidden = true; }

  function move(photo, step) {
    var next = photos[photos.indexOf(photo) + step];
    if (next) { next.focus(); next.scrollIntoView({block: "nearest"}); }
  }

  photos.forEach(function (photo) {
    photo.querySelector("select.reason").addEventListener("change", function () {
      if (this.value === "pass") { setRegion(photo, null); }
      verdict(photo);
    });
    photo.querySelector(".zoom").addEventListener("click", function () { closeZoom(photo); });
    photo.querySelectorAll(".frame[data-zoom]").forEach(function (frame) {
      var start = null;
      frame.addEventListener("pointerdown", function (event) {
        event.preventDefault();
        photo.focus({preventScroll: true});     // a scroll now would move the box under the pointer
        start = fraction(frame, event);
        if (frame.setPointerCapture) { frame.setPointerCapture(event.pointerId); }
      });
      frame.addEventListener("pointermove", function (event) {
        if (!start || !frame.classList.contains("markable")) { return; }
        var now = fraction(frame, event);
        if (Math.abs(now.px - start.px) + Math.abs(now.py - start.py) < CLICK) { return; }
        var rect = photo.querySelector("rect.mark");
        rect.setAttribute("x", Math.min(start.x, now.x)); rect.setAttribute("y", Math.min(start.y, now.y));
        rect.setAttribute("width", Math.abs(now.x - start.x)); rect.setAttribute("height", Math.abs(now.y - start.y));
        rect.setAttribute("visibility", "visible");
      });
      frame.addEventListener("pointerup", function (event) {
        if (!start) { return; }
        var end = fraction(frame, event), from = start;
        start = null;
        if (Math.abs(end.px - from.px) + Math.abs(end.py - from.py) < CLICK || !frame.classList.contains("markable")) {
          zoomTo(photo, frame, end);
          return;
        }
        setRegion(photo, {x: Math.min(from.x, end.x), y: Math.min(from.y, end.y),
                          w: Math.max(0.001, Math.abs(end.x - from.x)), h: Math.max(0.001, Math.abs(end.y - from.y))});
        decide(photo, true);
      });
    });
    photo.addEventListener("keydown", function (event) {
      if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) {
        if (event.key === "Escape") { event.target.blur(); photo.focus(); }
        return;
      }
      var key = event.key.toLowerCase();
      if (key === "p") { decide(photo, false); move(photo, 1); }
      else if (key === "r" || key === "x") { decide(photo, true); photo.querySelector("input.note-input").focus(); }
      else if (key === "c") { setRegion(photo, null); }
      else if (key === "f") { document.body.classList.toggle("no-findings"); }
      else if (key === "escape") { closeZoom(photo); }
      else if (key === "arrowdown" || key === "j") { move(photo, 1); }
      else if (key === "arrowup" || key === "k") { move(photo, -1); }
      else { return; }
      event.preventDefault();
    });
  });
  if (photos.length) { photos[0].focus(); }
})();
