/**
 * The dashboard page's one script, served as `GET /dashboard.js` (no build step, no CDN, no
 * library: plain ES2017 the browser runs as is). It swaps in the panels `GET /dashboard.json`
 * renders every `data-refresh-ms`, and runs "Try it": the chosen file is posted with `fetch`
 * (the page never reloads, so the choice stays), then the photo is shown with every face's box,
 * label and distance drawn over it. Text from the server goes in with `textContent` only; the
 * panels are HTML the server escaped (`web/status_page.ts`). The browser test
 * (`tests/dashboard_browser_test.ts`) runs it in Chromium.
 * @module
 */

/** The script's source. */
export const DASHBOARD_SCRIPT: string = String.raw`"use strict";
(function () {
  var body = document.body;
  var refreshMs = Number(body.getAttribute("data-refresh-ms")) || 2000;
  var dataPath = body.getAttribute("data-data-path") || "/dashboard.json";
  var live = document.getElementById("live");
  var conn = document.getElementById("conn");
  var inFlight = false;

  function poll() {
    // A tab nobody looks at costs the service nothing; it catches up when shown again.
    if (inFlight || document.hidden) return;
    inFlight = true;
    fetch(dataPath, { headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (data) {
        live.innerHTML = data.html;
        conn.textContent = "Live: updated " + new Date(data.nowMs).toISOString().slice(11, 19) +
          " UTC, every " + refreshMs / 1000 + " s.";
        conn.className = "muted";
      })
      .catch(function (error) {
        conn.textContent = "Not updating: " + error.message + " (retrying)";
        conn.className = "error";
      })
      .then(function () { inFlight = false; });
  }
  setInterval(poll, refreshMs);
  document.addEventListener("visibilitychange", poll);
  poll();

  var form = document.getElementById("try-form");
  var input = document.getElementById("try-file");
  var status = document.getElementById("try-status");
  var figure = document.getElementById("try-figure");
  var img = document.getElementById("try-img");
  var boxes = document.getElementById("try-boxes");
  var caption = document.getElementById("try-caption");
  var table = document.getElementById("try-faces");
  var SVG = "http://www.w3.org/2000/svg";
  var objectUrl = null;

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function draw(answer) {
    var w = img.naturalWidth, h = img.naturalHeight;
    boxes.setAttribute("viewBox", "0 0 " + w + " " + h);
    while (boxes.firstChild) boxes.removeChild(boxes.firstChild);
    var tbody = table.tBodies[0];
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    // Labels at a 40th of the photo, but never under 12 screen pixels (image units per pixel).
    var unitsPerPx = w / Math.max(1, img.clientWidth);
    var fontPx = Math.max(Math.max(w, h) / 40, 12 * unitsPerPx);
    answer.faces.forEach(function (face, i) {
      var b = face.box;
      var distance = face.distance === null ? "–" : face.distance.toFixed(3);
      var g = document.createElementNS(SVG, "g");
      g.setAttribute("class", "face");
      g.setAttribute("data-label", face.label);
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", b.x);
      rect.setAttribute("y", b.y);
      rect.setAttribute("width", b.width);
      rect.setAttribute("height", b.height);
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("x", b.x);
      text.setAttribute("y", Math.max(fontPx, b.y - 4));
      text.setAttribute("font-size", fontPx);
      text.textContent = (i + 1) + " " + face.label + " " + distance;
      g.appendChild(rect);
      g.appendChild(text);
      boxes.appendChild(g);
      var row = document.createElement("tr");
      cell(row, String(i + 1));
      cell(row, face.label);
      cell(row, distance);
      cell(row, face.score.toFixed(2));
      cell(row, [b.x, b.y, b.width, b.height].map(Math.round).join(", "));
      tbody.appendChild(row);
    });
    table.hidden = answer.faces.length === 0;
    var web = answer.timingsMs && answer.timingsMs.web;
    caption.textContent = answer.answer + ": " + answer.faces.length + " face" +
      (answer.faces.length === 1 ? "" : "s") + ", answered by " + answer.worker +
      (web ? " in " + Math.round(web.total) + " ms" : "");
    figure.hidden = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = input.files && input.files[0];
    if (!file) return say("Choose a photo first.", true);
    // The service stores the upload under its name: only S3's safe characters pass
    // (web/file_name.ts); anything else becomes _.
    var name = file.name.replace(/[^A-Za-z0-9!_.*'()-]/g, "_").slice(-200);
    var data = new FormData();
    data.append("inputFile", file, name);
    say("Recognising " + name + "…", false);
    fetch("/", { method: "POST", body: data, headers: { accept: "application/json" } })
      .then(function (res) {
        return res.text().then(function (text) {
          var json = null;
          try { json = JSON.parse(text); } catch (_) { json = null; }
          if (!res.ok) {
            var message = json && json.error ? json.error.message : text;
            throw new Error(res.status + ": " + message);
          }
          return json;
        });
      })
      .then(function (answer) {
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = URL.createObjectURL(file);
        img.onload = function () {
          draw(answer);
          say(answer.answer, false);
        };
        img.onerror = function () {
          figure.hidden = true;
          say(answer.answer + " (this browser cannot show the photo itself)", false);
        };
        img.src = objectUrl;
      })
      .catch(function (error) { say(error.message, true); });
  });
})();
`;
