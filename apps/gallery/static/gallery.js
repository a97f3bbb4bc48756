// Shared by every page: the header, JSON calls with their errors, and drawing numbers as pictures.
"use strict";

const PAGES = [["/", "Gallery"], ["/digits", "Digits & clothes"], ["/text", "Writing"],
  ["/translate", "Translator"], ["/graph", "Backpropagation"]];

function header() {
  const h = document.createElement("header");
  for (const [href, title] of PAGES) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = title;
    if (href === "/") a.className = "brand";
    if (href === location.pathname && href !== "/") a.className = "here";
    h.appendChild(a);
  }
  document.body.prepend(h);
}

// fetch + JSON; a non-2xx answer throws its `error` sentence.
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function showError(el, e) {
  el.textContent = e ? String(e.message || e) : "";
}

// Fills a <select> with the models of one kind; returns false (and says so) when there is none.
async function chooseModel(select, kind, none) {
  const catalogue = await api("/api/models");
  const models = catalogue[kind];
  select.innerHTML = "";
  for (const m of models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = m.metric ? `${m.name} (${m.metric})` : m.name;
    select.appendChild(o);
  }
  if (!models.length) { none.hidden = false; return false; }
  return true;
}

// Draws a {channels, height, width, pixels} picture (values in [0, 1]) scaled `scale` times.
function drawPicture(canvas, pic, scale) {
  canvas.width = pic.width * scale;
  canvas.height = pic.height * scale;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(pic.width, pic.height);
  const plane = pic.width * pic.height;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = pic.pixels[(pic.channels === 3 ? c * plane : 0) + i];
      img.data[4 * i + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
    img.data[4 * i + 3] = 255;
  }
  const tmp = document.createElement("canvas");
  tmp.width = pic.width;
  tmp.height = pic.height;
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

// A labelled heatmap of `values[row][col]` (attention: target tokens down, source across).
function heatmap(canvas, rows, cols, values) {
  const cell = 34, left = 110, top = 100;
  canvas.width = left + cell * cols.length + 10;
  canvas.height = top + cell * rows.length + 10;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = "13px system-ui, sans-serif";
  ctx.fillStyle = "#1d2330";
  rows.forEach((r, i) => {
    ctx.textAlign = "right";
    ctx.fillText(r, left - 6, top + cell * i + cell * 0.65);
  });
  cols.forEach((c, j) => {
    ctx.save();
    ctx.translate(left + cell * j + cell * 0.6, top - 6);
    ctx.rotate(-Math.PI / 3);
    ctx.textAlign = "left";
    ctx.fillText(c, 0, 0);
    ctx.restore();
  });
  values.forEach((row, i) => row.forEach((v, j) => {
    const shade = Math.round(255 * (1 - v));
    ctx.fillStyle = `rgb(${shade}, ${shade}, 255)`;
    ctx.fillRect(left + cell * j, top + cell * i, cell - 1, cell - 1);
  }));
}

document.addEventListener("DOMContentLoaded", header);
