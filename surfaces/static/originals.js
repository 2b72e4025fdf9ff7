// The originals' grid (surfaces/web_originals.py): keep or reject each frame from the keyboard. K keeps, X (or R)
// rejects, and the focus moves on to the next frame; the arrows move between frames (up and down: the row above
// or below); Space, Enter or a click on the picture shows the frame large, where K, X and the arrows work too (Esc,
// Space or a click go back). The form works without it.
// What the reviewer marks is kept in this browser as they mark it (a reload, the back button or a closed tab
// does not lose a wedding's cull): on the next load their marks go back over the pre-fill, and the draft goes once
// the decision is given.
(function () {
  "use strict";
  var frames = Array.prototype.slice.call(document.querySelectorAll(".frame"));
  var form = document.getElementById("originals");
  var draftKey = "postline-originals:" + location.pathname;
  var store = null;
  try { store = window.localStorage; } catch (e) { store = null; }     // storage refused (private mode): no draft
  var draft = {};

  if (store && (document.getElementById("decided") || !form)) { store.removeItem(draftKey); }
  if (store && form) {
    try { draft = JSON.parse(store.getItem(draftKey) || "{}") || {}; } catch (e) { draft = {}; }
  }

  function field(frame, what) { return frame.querySelector("[name^='" + what + "-']"); }

  function mark(frame, verdict) {
    var radio = frame.querySelector('input[type="radio"][value="' + verdict + '"]');
    if (radio) { radio.checked = true; }
    frame.classList.toggle("reject", verdict === "reject");
    tally();
  }

  function tally() {                         // the decision as it stands: kept and culled, beside the button
    var culled = frames.filter(function (frame) { return frame.classList.contains("reject"); }).length;
    var kept = document.getElementById("tally-kept"), out = document.getElementById("tally-culled");
    if (kept && out) { kept.textContent = String(frames.length - culled); out.textContent = String(culled); }
  }

  function remember(frame) {               // this frame as the reviewer left it, into the draft
    if (!store || !form) { return; }
    var chosen = frame.querySelector('input[type="radio"]:checked');
    draft[frame.getAttribute("data-photo")] = {verdict: chosen ? chosen.value : "keep",
                                               reason: field(frame, "reason").value, note: field(frame, "note").value};
    try { store.setItem(draftKey, JSON.stringify(draft)); } catch (e) { /* full: the page still sends */ }
  }

  function move(frame, step) {
    var next = frames[frames.indexOf(frame) + step];
    if (next) { next.focus(); }
    return next || frame;
  }

  function moveRow(frame, down) {           // the frame above or below on the screen, nearest across
    var here = frame.getBoundingClientRect(), best = null, score = Infinity, at = frames.indexOf(frame);
    var near = down ? frames.slice(at + 1, at + 101) : frames.slice(Math.max(0, at - 100), at);   // rows are shorter
    near.forEach(function (other) {
      var box = other.getBoundingClientRect();
      var gap = down ? box.top - here.bottom : here.top - box.bottom;
      if (gap < -here.height / 2) { return; }
      var across = Math.abs((box.left + box.right) / 2 - (here.left + here.right) / 2);
      var s = Math.max(gap, 0) * 4 + across;
      if (s < score) { score = s; best = other; }
    });
    if (best) { best.focus(); }
  }

  // The large view: the focused frame's picture over the page; K, X and the arrows work there as in the grid.
  var loupe = document.getElementById("loupe"), shownFrame = null, ahead = new Image();

  function show(frame) {
    shownFrame = frame;
    var img = loupe.querySelector("img");
    if (!img) { img = loupe.insertBefore(document.createElement("img"), loupe.firstChild); }   // made when first shown
    img.src = frame.getAttribute("data-large");
    img.alt = frame.getAttribute("data-photo");
    var flags = frame.querySelector(".flags").textContent;
    var rejected = frame.classList.contains("reject");
    document.getElementById("loupe-caption").textContent = frame.getAttribute("data-photo") + " · "
      + (rejected ? "reject" : "keep") + (flags ? " · " + flags : "") + "  (K keep, X reject, arrows, Esc back)";
    loupe.classList.toggle("reject", rejected);
    loupe.hidden = false;
    var next = frames[frames.indexOf(frame) + 1];
    if (next) { ahead.src = next.getAttribute("data-large"); }      // the next one ready when it is asked for
  }

  function hide() {
    loupe.hidden = true;
    if (shownFrame) { shownFrame.focus(); }
    shownFrame = null;
  }

  if (loupe) {
    document.addEventListener("keydown", function (event) {
      if (loupe.hidden || event.ctrlKey || event.metaKey || event.altKey) { return; }
      var key = event.key.toLowerCase();
      if (key === "escape" || key === " " || key === "enter") { hide(); }
      else if (key === "k") { mark(shownFrame, "keep"); remember(shownFrame); show(move(shownFrame, 1)); }
      else if (key === "x" || key === "r") { mark(shownFrame, "reject"); remember(shownFrame); show(move(shownFrame, 1)); }
      else if (key === "arrowright" || key === "arrowdown") { show(move(shownFrame, 1)); }
      else if (key === "arrowleft" || key === "arrowup") { show(move(shownFrame, -1)); }
      else { return; }
      event.preventDefault();
      event.stopPropagation();
    }, true);
    loupe.addEventListener("click", hide);
  }

  var restored = 0;
  if (form && form.getAttribute("data-given") !== "1") {   // a page the server filled from a refused decision is as sent
    frames.forEach(function (frame) {
      var marked = draft[frame.getAttribute("data-photo")];
      if (!marked) { return; }
      mark(frame, marked.verdict === "reject" ? "reject" : "keep");
      var reason = field(frame, "reason");
      if (reason.querySelector("option[value='" + marked.reason + "']")) { reason.value = marked.reason; }
      field(frame, "note").value = marked.note || "";
      restored += 1;
    });
  }
  var shown = document.getElementById("draft");
  if (shown && restored) {
    document.getElementById("draft-count").textContent = String(restored);
    shown.hidden = false;
    document.getElementById("forget-draft").addEventListener("click", function () {
      if (store) { store.removeItem(draftKey); }
      location.reload();
    });
  }

  frames.forEach(function (frame) {
    frame.querySelectorAll('input[type="radio"]').forEach(function (radio) {
      radio.addEventListener("change", function () { mark(frame, radio.value); remember(frame); });
    });
    field(frame, "reason").addEventListener("change", function () { remember(frame); });
    field(frame, "note").addEventListener("input", function () { remember(frame); });
    frame.addEventListener("keydown", function (event) {
      if (event.target.matches("input[type=text], textarea, select") || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      var key = event.key.toLowerCase();
      if (key === "k") { mark(frame, "keep"); remember(frame); move(frame, 1); }
      else if (key === "x" || key === "r") { mark(frame, "reject"); remember(frame); move(frame, 1); }
      else if (key === "arrowright") { move(frame, 1); }
      else if (key === "arrowleft") { move(frame, -1); }
      else if (key === "arrowdown" || key === "arrowup") { moveRow(frame, key === "arrowdown"); }
      else if ((key === " " || key === "enter") && event.target === frame && loupe) { show(frame); }
      else { return; }
      event.preventDefault();
    });
    var picture = frame.querySelector("img");
    if (picture && loupe) { picture.addEventListener("click", function () { frame.focus(); show(frame); }); }
  });
  if (frames.length) { frames[0].focus(); }
})();
