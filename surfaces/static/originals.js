// The originals' grid (surfaces/web_originals.py): keep or reject each frame from the keyboard. K keeps, X (or R)
// rejects, and the focus moves on to the next frame; the arrows move between frames. The form works without it.
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
      else if (key === "arrowright" || key === "arrowdown") { move(frame, 1); }
      else if (key === "arrowleft" || key === "arrowup") { move(frame, -1); }
      else { return; }
      event.preventDefault();
    });
  });
  if (frames.length) { frames[0].focus(); }
})();
