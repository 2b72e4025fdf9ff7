// The QC review page (surfaces/web_qc.py): pass or reject each photo from the keyboard, mark the region to fix by
// dragging a box over the after (or drawing around it with Shift held), see any part at 100% by clicking. The form works without it (no region, no zoom).
(function () {
  "use strict";
  var photos = Array.prototype.slice.call(document.querySelectorAll(".qc-photo"));
  var CLICK = 5;          // a drag shorter than this (px) is a click: the 100% view
  var MAX_POINTS = 400;   // the most points a freehand outline keeps (qc.review.MAX_OUTLINE_POINTS)
  var reasons = photos.length ? Array.prototype.slice.call(photos[0].querySelectorAll("select.reason option"))
    .map(function (o) { return o.value; }).filter(function (v) { return v && v !== "pass"; }) : [];

  function fraction(frame, event) {
    var box = frame.getBoundingClientRect();
    return {x: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
            y: Math.min(1, Math.max(0, (event.clientY - box.top) / box.height)), px: event.clientX, py: event.clientY};
  }

  function verdict(photo) {
    var reason = photo.querySelector("select.reason").value;
    var tag = photo.querySelector(".verdict");
    tag.textContent = reason === "pass" ? "pass" : reason ? "reject: " + reason.replace(/_/g, " ") : "reject: choose the reason";
    tag.setAttribute("data-verdict", reason === "pass" ? "pass" : "reject");
    photo.classList.toggle("rejected", reason !== "pass");
  }

  function pointsText(points) {
    return points.map(function (p) { return p.x.toFixed(4) + "," + p.y.toFixed(4); }).join(" ");
  }

  // r: {x, y, w, h} and, for a freehand region, its outline's points; null clears it.
  function setRegion(photo, r) {
    var rect = photo.querySelector("rect.mark"), shape = photo.querySelector("polygon.mark-outline");
    var input = photo.querySelector("input.region"), outline = photo.querySelector("input.outline");
    var said = photo.querySelector(".region-said");
    rect.setAttribute("visibility", "hidden");
    shape.setAttribute("visibility", "hidden");
    if (!r) {
      input.value = outline.value = said.textContent = "";
      return;
    }
    if (r.points) {
      shape.setAttribute("points", pointsText(r.points));
      shape.setAttribute("visibility", "visible");
    } else {
      rect.setAttribute("x", r.x); rect.setAttribute("y", r.y);
      rect.setAttribute("width", r.w); rect.setAttribute("height", r.h);
      rect.setAttribute("visibility", "visible");
    }
    input.value = [r.x, r.y, r.w, r.h].map(function (v) { return v.toFixed(4); }).join(",");
    outline.value = r.points ? pointsText(r.points) : "";
    said.textContent = (r.points ? "Freehand region marked within " : "Region marked: ") + Math.round(r.w * 100) +
      "% x " + Math.round(r.h * 100) + "% at " + Math.round(r.x * 100) + "%, " + Math.round(r.y * 100) + "%";
  }

  function bounds(points) {
    var xs = points.map(function (p) { return p.x; }), ys = points.map(function (p) { return p.y; });
    var x = Math.min.apply(null, xs), y = Math.min.apply(null, ys);
    // the box is rounded outwards, so every point (written to 4 places) lies inside it
    x = Math.floor(x * 1e4) / 1e4; y = Math.floor(y * 1e4) / 1e4;
    return {x: x, y: y, w: Math.min(1 - x, Math.max(0.001, Math.ceil((Math.max.apply(null, xs) - x) * 1e4) / 1e4)),
            h: Math.min(1 - y, Math.max(0.001, Math.ceil((Math.max.apply(null, ys) - y) * 1e4) / 1e4)), points: points};
  }

  // reject: true (its reason to choose: the option "reject: choose the reason", never one the lead did not pick,
  // since each rejection is counted by its reason), a reason's value, or false (pass).
  function decide(photo, reject) {
    var select = photo.querySelector("select.reason");
    if (typeof reject === "string") { select.value = reject; }
    else if (reject && select.value === "pass") { select.value = ""; }
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

  // A page shown again after a refused decision comes with the lead's choices: their verdicts and regions drawn.
  function restore(photo) {
    var box = photo.querySelector("input.region").value.split(",").map(Number);
    var outline = photo.querySelector("input.outline").value.trim();
    if (box.length === 4 && box.every(isFinite)) {
      var r = {x: box[0], y: box[1], w: box[2], h: box[3]};
      if (outline) {
        r.points = outline.split(/\s+/).map(function (p) { var xy = p.split(",").map(Number); return {x: xy[0], y: xy[1]}; });
      }
      setRegion(photo, r);
    }
    verdict(photo);
  }

  photos.forEach(function (photo) {
    restore(photo);
    photo.querySelector("select.reason").addEventListener("change", function () {
      if (this.value === "pass") { setRegion(photo, null); }
      verdict(photo);
    });
    photo.querySelector(".zoom").addEventListener("click", function () { closeZoom(photo); });
    photo.querySelectorAll(".qc-frame[data-zoom]").forEach(function (frame) {
      var start = null, trail = null;      // trail: the freehand outline being drawn (Shift held at the start)
      frame.addEventListener("pointerdown", function (event) {
        event.preventDefault();
        photo.focus({preventScroll: true});     // a scroll now would move the box under the pointer
        start = fraction(frame, event);
        trail = event.shiftKey && frame.classList.contains("markable") ? [start] : null;
        if (frame.setPointerCapture) { frame.setPointerCapture(event.pointerId); }
      });
      frame.addEventListener("pointermove", function (event) {
        if (!start || !frame.classList.contains("markable")) { return; }
        var now = fraction(frame, event);
        if (Math.abs(now.px - start.px) + Math.abs(now.py - start.py) < CLICK) { return; }
        if (trail) {
          var last = trail[trail.length - 1];
          if (Math.abs(now.x - last.x) + Math.abs(now.y - last.y) > 0.004 && trail.length < MAX_POINTS) { trail.push(now); }
          var shape = photo.querySelector("polygon.mark-outline");
          shape.setAttribute("points", pointsText(trail));
          shape.setAttribute("visibility", "visible");
          return;
        }
        var rect = photo.querySelector("rect.mark");
        rect.setAttribute("x", Math.min(start.x, now.x)); rect.setAttribute("y", Math.min(start.y, now.y));
        rect.setAttribute("width", Math.abs(now.x - start.x)); rect.setAttribute("height", Math.abs(now.y - start.y));
        rect.setAttribute("visibility", "visible");
      });
      frame.addEventListener("pointerup", function (event) {
        if (!start) { return; }
        var end = fraction(frame, event), from = start, drawn = trail;
        start = trail = null;
        if (Math.abs(end.px - from.px) + Math.abs(end.py - from.py) < CLICK || !frame.classList.contains("markable")) {
          zoomTo(photo, frame, end);
          return;
        }
        if (drawn && drawn.length >= 3) {
          setRegion(photo, bounds(drawn.concat(drawn.length < MAX_POINTS ? [end] : [])));
        } else {
          setRegion(photo, {x: Math.min(from.x, end.x), y: Math.min(from.y, end.y),
                            w: Math.max(0.001, Math.abs(end.x - from.x)), h: Math.max(0.001, Math.abs(end.y - from.y))});
        }
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
      else if (key === "r" || key === "x") {
        decide(photo, true);
        photo.querySelector(photo.querySelector("select.reason").value ? "input.note-input" : "select.reason").focus();
      }
      else if (/^[1-9]$/.test(key) && reasons[+key - 1]) {
        decide(photo, reasons[+key - 1]); photo.querySelector("input.note-input").focus();
      }
      else if (key === "c") { setRegion(photo, null); }
      else if (key === "f") { document.body.classList.toggle("no-findings"); }
      else if (key === "escape") { closeZoom(photo); }
      else if (key === "arrowdown" || key === "j") { move(photo, 1); }
      else if (key === "arrowup" || key === "k") { move(photo, -1); }
      else { return; }
      event.preventDefault();
    });
  });
  // Each photo's findings (figures, the regions a check measured), asked for once it comes near the view.
  var SVG = "http://www.w3.org/2000/svg";
  function showFindings(photo) {
    var list = photo.querySelector("ul.findings");
    if (!list || list.getAttribute("data-asked")) { return; }
    list.setAttribute("data-asked", "1");
    fetch(list.getAttribute("data-src"), {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (found) {
      list.textContent = "";
      found.notes.forEach(function (note) { var li = document.createElement("li"); li.textContent = note; list.appendChild(li); });
      var svg = photo.querySelector(".after svg"), first = svg.querySelector("rect.mark");
      found.regions.forEach(function (region) {
        var rect = document.createElementNS(SVG, "rect"), title = document.createElementNS(SVG, "title");
        [["class", "finding measured"], ["x", region.box[0]], ["y", region.box[1]], ["width", region.box[2]],
         ["height", region.box[3]], ["fill", "none"], ["stroke", "#ffd400"], ["stroke-width", "2"],
         ["stroke-dasharray", "6 4"], ["vector-effect", "non-scaling-stroke"]].forEach(function (a) { rect.setAttribute(a[0], a[1]); });
        title.textContent = region.label;
        rect.appendChild(title);
        svg.insertBefore(rect, first);
      });
      photo.querySelector(".measured-said").hidden = !found.regions.length;
      photo.setAttribute("data-findings", "shown");
    }).catch(function (error) {
      list.textContent = "";
      var li = document.createElement("li"); li.textContent = "the automatic findings cannot be shown (" + error.message + ")";
      list.appendChild(li);
      photo.setAttribute("data-findings", "failed");
    });
  }
  if ("IntersectionObserver" in window) {
    var watcher = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { showFindings(entry.target); watcher.unobserve(entry.target); }
      });
    }, {rootMargin: "600px 0px"});
    photos.forEach(function (photo) { watcher.observe(photo); });
  } else {
    photos.forEach(showFindings);
  }

  // A photo marked to reject with no reason chosen: not sent; the first such is shown, its reason to choose.
  var form = document.getElementById("qc-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      var open = photos.filter(function (photo) { return photo.querySelector("select.reason").value === ""; });
      if (!open.length) { return; }
      event.preventDefault();
      var said = document.getElementById("reason-missing");
      said.textContent = "Choose the reason for " + open.map(function (p) { return p.getAttribute("data-name"); })
        .join(", ") + " (each rejection is counted by its reason), or pass " + (open.length > 1 ? "them" : "it") + ".";
      said.hidden = false;
      open[0].scrollIntoView({block: "center"});
      open[0].querySelector("select.reason").focus();
    });
  }
  if (photos.length) { photos[0].focus(); }
})();
