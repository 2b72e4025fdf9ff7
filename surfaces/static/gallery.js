// The client's gallery (surfaces/web_client.py): what the client marks is kept in this browser as they mark it,
// so a reload (a phone reloading a tab left in the background, a closed tab) does not lose a 300-photo selection.
// The page works without it; the studio keeps nothing until the selection is sent, and the draft goes once it is.
(function () {
  "use strict";
  var key = "postline-draft:" + location.pathname.replace(/\/(selection|changes)$/, "");
  var store;
  try { store = window.localStorage; } catch (e) { return; }     // storage refused (private mode): no draft
  if (!store) return;
  if (document.getElementById("sent")) { store.removeItem(key); return; }
  var form = document.getElementById("selection");
  if (!form) return;

  function rows() {          // each photo's row: its name (the hidden photo-N) and its ticks and note
    return Array.prototype.slice.call(form.querySelectorAll("input[type=hidden][name^=photo-]")).map(function (named) {
      var n = named.name.slice("photo-".length);
      var field = function (prefix) { return form.querySelector("[name='" + prefix + "-" + n + "']"); };
      return {photo: named.value, fav: field("fav"), album: field("album"), bw: field("bw"), note: field("note")};
    });
  }

  function save() {
    var draft = {};
    rows().forEach(function (row) {
      var marked = {fav: !!(row.fav && row.fav.checked), album: !!(row.album && row.album.checked),
                    bw: !!(row.bw && row.bw.checked), note: row.note ? row.note.value : ""};
      if (marked.fav || marked.album || marked.bw || marked.note) draft[row.photo] = marked;
    });
    try { store.setItem(key, JSON.stringify(draft)); } catch (e) { /* full: the page still sends */ }
  }

  if (form.getAttribute("data-given") !== "1") {   // a page the server filled (a refusal, the confirmation) is as sent
    var draft = {};
    try { draft = JSON.parse(store.getItem(key) || "{}") || {}; } catch (e) { draft = {}; }
    rows().forEach(function (row) {
      var marked = draft[row.photo];
      if (!marked) return;
      if (row.fav) row.fav.checked = !!marked.fav;
      if (row.album) row.album.checked = !!marked.album;
      if (row.bw) row.bw.checked = !!marked.bw;
      if (row.note && marked.note) row.note.value = marked.note;
    });
  }
  form.addEventListener("change", save);
  form.addEventListener("input", save);
}());
