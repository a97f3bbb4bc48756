// Shared by every page: the header, JSON calls with their errors, and drawing numbers as pictures.
"use strict";

const PAGES = [["/", "Gallery"], ["/digits", "Digits & clothes"], ["/text", "Writing"],
  ["/translate", "Translator"], ["/style", "Style & dreams"], ["/play", "Agents"],
  ["/train", "Train live"], ["/graph", "Backpropagation"]];

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
  none.hidden = true;
  // `?model=NAME` in the address picks that model.
  const wanted = new URLSearchParams(location.search).get("model");
  if (wanted && models.some(m => m.name === wanted)) select.value = wanted;
  return true;
}

// Reads the server-sent events of a fetch response, calling `handlers[event](data)` with each
// event's data parsed as JSON (`message` for events without a name).
async function readEvents(response, handlers) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const lines = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const named = lines.find(l => l.startsWith("event:"));
      const event = named ? named.slice(6).trim() : "message";
      const data = lines.filter(l => l.startsWith("data:")).map(l => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data || !handlers[event]) continue;
      let parsed;
      try { parsed = JSON.parse(data); } catch (e) { parsed = data; }
      handlers[event](parsed);
    }
  }
}

// Starts a streamed request: answers its Response, or throws the server's error sentence.
async function openStream(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `${response.status} ${response.statusText}`);
  }
  return response;
}

// A drawing pad on `canvas` (black ink on white): `done(blob)` gets a PNG after each stroke.
function drawingPad(canvas, done) {
  const ctx = canvas.getContext("2d");
  let drawing = false;
  const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  canvas.addEventListener("pointerdown", e => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    ctx.beginPath();
    ctx.moveTo(e.offsetX, e.offsetY);
  });
  canvas.addEventListener("pointermove", e => {
    if (!drawing) return;
    ctx.lineWidth = canvas.width / 15; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#000";
    ctx.lineTo(e.offsetX, e.offsetY);
    ctx.stroke();
  });
  canvas.addEventListener("pointerup", () => { drawing = false; canvas.toBlob(done, "image/png"); });
  clear();
  return clear;
}

// Top guesses as labelled bars in `box`.
function showGuesses(box, top) {
  box.innerHTML = "";
  for (const g of top) {
    const row = document.createElement("div");
    row.className = "guess";
    row.innerHTML = `<span></span><div class="bar"></div><span></span>`;
    row.children[0].textContent = g.class;
    row.children[1].style.width = `${(100 * g.probability).toFixed(1)}%`;
    row.children[2].textContent = `${(100 * g.probability).toFixed(1)} %`;
    box.appendChild(row);
  }
}

// A game streamed into `view` = {screen: <img>, q: element, score: element}; answers the
// AbortController that stops it. `over(result)` is called at the end.
function watchGame(agent, policy, view, over, speed) {
  const controller = new AbortController();
  const params = new URLSearchParams({ policy, seed: Math.floor(Math.random() * 1e6), speed: speed || 1 });
  let actions = [];
  (async () => {
    try {
      const response = await openStream(`/api/play/${encodeURIComponent(agent)}?${params}`, { signal: controller.signal });
      await readEvents(response, {
        start: s => { actions = s.actions; },
        frame: f => {
          view.screen.src = f.screen;
          view.score.textContent = `score ${f.score} after ${f.step} steps`;
          const lo = Math.min(...f.q), hi = Math.max(...f.q);
          view.q.innerHTML = "";
          f.q.forEach((v, i) => {
            const row = document.createElement("div");
            row.className = "guess";
            row.innerHTML = `<span></span><div class="bar"></div><span></span>`;
            row.children[0].textContent = (i === f.action ? "▶ " : "") + (actions[i] || i);
            row.children[1].style.width = `${hi > lo ? 10 + 90 * (v - lo) / (hi - lo) : 50}%`;
            row.children[2].textContent = v.toFixed(2);
            view.q.appendChild(row);
          });
        },
        over: o => over(o),
        failed: f => over({ error: f.error || f }),
      });
    } catch (e) {
      if (e.name !== "AbortError") over({ error: String(e.message || e) });
    }
  })();
  return controller;
}

// A line chart of `series` = [{name, color, points: [[x, y], ...]}] on `canvas`.
function lineChart(canvas, series, xLabel) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const left = 56, right = 12, top = 12, bottom = 34;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const all = series.flatMap(s => s.points).filter(p => Number.isFinite(p[1]));
  if (!all.length) return;
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const X = x => left + (W - left - right) * (x - x0) / (x1 - x0);
  const Y = y => top + (H - top - bottom) * (1 - (y - y0) / (y1 - y0));
  ctx.strokeStyle = "#d9dde5";
  ctx.fillStyle = "#5b6475";
  ctx.font = "12px system-ui, sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    ctx.beginPath(); ctx.moveTo(left, Y(y)); ctx.lineTo(W - right, Y(y)); ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(Math.abs(y) >= 100 ? y.toFixed(0) : y.toPrecision(3), left - 6, Y(y) + 4);
  }
  ctx.textAlign = "center";
  ctx.fillText(`${xLabel}: ${x0} to ${x1}`, (left + W - right) / 2, H - 10);
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    const points = s.points.filter(p => Number.isFinite(p[1]));
    points.forEach((p, i) => i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1])));
    ctx.stroke();
    ctx.fillStyle = s.color;
    for (const p of points) { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 2.5, 0, 2 * Math.PI); ctx.fill(); }
    ctx.textAlign = "left";
    ctx.fillText(s.name, left + 8 + 140 * k, top + 12);
  });
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
