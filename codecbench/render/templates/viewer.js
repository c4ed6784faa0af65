// codecbench image comparison viewer: two pictures (or the original) in a split, side-by-side or flip view, zoom
// and pan locked together, absolute-error and SSIM maps computed here from the lossless pictures.
"use strict";
window.codecbenchViewer = function (DATA) {
  const $ = (selector, root = document) => root.querySelector(selector);
  const P = DATA.pictures;
  if (!P.decodes.length) {
    $("#viewer-none").hidden = false;
    $("#viewer-body").hidden = true;
    return Promise.resolve();
  }
  const ERROR_FULL = 32; // an absolute error (mean over channels, of 255) drawn white
  const STOPS = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]]; // inferno-like
  P.decodes.forEach((d, i) => { d.id = "d" + i; });
  P.originals.forEach((o) => { o.id = "o:" + o.image; o.label = "original"; o.setting = ""; });
  const canvases = [$("#v-canvas-a"), $("#v-canvas-b")];
  const sides = [$("#v-side-a"), $("#v-side-b")];
  const state = { image: P.originals[0].image, zoom: 0, cx: 0, cy: 0, split: 0.5, mode: "split", flipped: false,
    shown: [null, null], show: ["image", "image"] };
  const bitmaps = new Map(); // picture id + "|" + what -> canvas or image

  function original(image) { return P.originals.find((o) => o.image === image); }
  function decodesOf(image, label) {
    return P.decodes.filter((d) => d.image === image && (!label || d.label === label));
  }

  function loadImage(src) {
    const img = new Image();
    img.src = src;
    return img.decode().then(() => img);
  }

  function pixels(img) {
    const c = document.createElement("canvas");
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(img, 0, 0);
    return ctx.getImageData(0, 0, c.width, c.height);
  }

  function colour(t) { // t in [0, 1] -> [r, g, b] on STOPS
    const x = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1), i = Math.min(Math.floor(x), STOPS.length - 2);
    const f = x - i;
    return STOPS[i].map((v, k) => v + (STOPS[i + 1][k] - v) * f);
  }

  function heat(width, height, values) { // values in [0, 1] -> a canvas
    const c = document.createElement("canvas");
    c.width = width; c.height = height;
    const ctx = c.getContext("2d");
    const out = ctx.createImageData(width, height);
    for (let i = 0; i < values.length; i++) {
      const [r, g, b] = colour(values[i]);
      out.data[4 * i] = r; out.data[4 * i + 1] = g; out.data[4 * i + 2] = b; out.data[4 * i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return c;
  }

  function errorMap(a, o) {
    const values = new Float32Array(a.width * a.height);
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(a.data[4 * i] - o.data[4 * i]) + Math.abs(a.data[4 * i + 1] - o.data[4 * i + 1])
        + Math.abs(a.data[4 * i + 2] - o.data[4 * i + 2]);
      values[i] = d / 3 / ERROR_FULL;
    }
    return heat(a.width, a.height, values);
  }

  function luma(img) {
    const y = new Float32Array(img.width * img.height);
    for (let i = 0; i < y.length; i++) {
      y[i] = 0.299 * img.data[4 * i] + 0.587 * img.data[4 * i + 1] + 0.114 * img.data[4 * i + 2];
    }
    return y;
  }

  function blur(src, w, h) { // separable 11-tap Gaussian, sigma 1.5, edges clamped
    const k = [], r = 5;
    for (let i = -r; i <= r; i++) k.push(Math.exp(-(i * i) / (2 * 1.5 * 1.5)));
    const sum = k.reduce((a, b) => a + b, 0);
    const kernel = k.map((v) => v / sum), tmp = new Float32Array(src.length), out = new Float32Array(src.length);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += kernel[i + r] * src[y * w + Math.min(w - 1, Math.max(0, x + i))];
      tmp[y * w + x] = s;
    }
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += kernel[i + r] * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x];
      out[y * w + x] = s;
    }
    return out;
  }

  function ssimMap(a, o) { // 1 - SSIM of luma per pixel (Wang et al. constants, range 255)
    const w = a.width, h = a.height, x = luma(a), y = luma(o);
    const xx = x.map((v) => v * v), yy = y.map((v) => v * v), xy = x.map((v, i) => v * y[i]);
    const [mx, my, sxx, syy, sxy] = [x, y, xx, yy, xy].map((m) => blur(m, w, h));
    const c1 = (0.01 * 255) ** 2, c2 = (0.03 * 255) ** 2, values = new Float32Array(w * h);
    for (let i = 0; i < values.length; i++) {
      const vx = sxx[i] - mx[i] ** 2, vy = syy[i] - my[i] ** 2, cov = sxy[i] - mx[i] * my[i];
      const s = ((2 * mx[i] * my[i] + c1) * (2 * cov + c2)) / ((mx[i] ** 2 + my[i] ** 2 + c1) * (vx + vy + c2));
      values[i] = 1 - s;
    }
    return heat(w, h, values);
  }

  function source(picture, what) { // the image, or a map of it against the original
    const key = picture.id + "|" + what;
    if (!bitmaps.has(key)) {
      const made = loadImage(picture.src).then((img) => {
        if (what === "image") return img;
        return loadImage(original(picture.image).src).then((orig) => (what === "error"
          ? errorMap(pixels(img), pixels(orig)) : ssimMap(pixels(img), pixels(orig))));
      });
      bitmaps.set(key, made);
    }
    return bitmaps.get(key);
  }

  // -- controls ---------------------------------------------------------------------------------------------------
  function option(value, text) {
    return Object.assign(document.createElement("option"), { value, textContent: text });
  }

  function fillConfigs(side, preferred) {
    const select = $(".v-config", sides[side]);
    const labels = [...new Set(decodesOf(state.image).map((d) => d.label))];
    select.replaceChildren(...labels.map((l) => option(l, l)), option("original", "original (uncompressed)"));
    const known = labels.includes(preferred) || preferred === "original";
    select.value = known ? preferred : labels[Math.min(side, labels.length - 1)];
    fillRates(side);
  }

  function fillRates(side, target) {
    const label = $(".v-config", sides[side]).value, select = $(".v-rate", sides[side]);
    if (label === "original") {
      select.replaceChildren(option("", "—"));
      select.disabled = true;
      return;
    }
    const found = decodesOf(state.image, label).sort((a, b) => a.bpp - b.bpp);
    select.disabled = false;
    select.replaceChildren(...found.map((d) => option(d.id, `${d.setting} — ${d.bpp.toFixed(3)} bpp`)));
    const goal = target ?? (Number($("#v-target").value) || 0.5);
    const best = found.reduce((a, b) => (Math.abs(Math.log(b.bpp / goal)) < Math.abs(Math.log(a.bpp / goal)) ? b : a));
    select.value = best.id;
  }

  function picked(side) {
    const label = $(".v-config", sides[side]).value;
    if (label === "original") return original(state.image);
    return P.decodes.find((d) => d.id === $(".v-rate", sides[side]).value);
  }

  function info(side, picture) {
    const dl = $(".v-info", sides[side]), o = original(picture.image);
    const rows = [["picture", picture.label + (picture.setting ? " " + picture.setting : "")]];
    if (picture.bpp !== undefined) {
      rows.push(["bpp (whole image)", picture.bpp.toFixed(4)], ["bytes", String(picture.bytes)]);
      for (const m of DATA.metrics.filter((m) => !m.timing && m.key in picture)) {
        const value = picture[m.key];
        rows.push([m.label, value === null ? "—" : value.toFixed(m.digits) + (m.unit ? " " + m.unit : "")]);
      }
      if ("ms_ssim" in picture && picture.ms_ssim !== null) rows.push(["MS-SSIM", picture.ms_ssim.toFixed(4)]);
    }
    rows.push(["shown", `${o.crop[2]}×${o.crop[3]} px at (${o.crop[0]}, ${o.crop[1]}) of ${o.width}×${o.height}`]);
    dl.replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement("dt"), { textContent: k }),
      Object.assign(document.createElement("dd"), { textContent: v })]));
    if (picture.stream_bytes !== undefined && picture.stream_bytes !== null && picture.stream_bytes !== picture.bytes) {
      const warn = Object.assign(document.createElement("dd"), { className: "warning",
        textContent: `re-encoded to ${picture.stream_bytes} bytes for this picture (measured: ${picture.bytes})` });
      dl.append(Object.assign(document.createElement("dt"), { textContent: "note" }), warn);
    }
  }

  // -- drawing ----------------------------------------------------------------------------------------------------
  function zoomOf(canvas) {
    const o = original(state.image);
    return state.zoom || Math.min(canvas.width / o.crop[2], canvas.height / o.crop[3]);
  }

  function paint(ctx, canvas, img, z) {
    ctx.setTransform(z, 0, 0, z, canvas.width / 2 - state.cx * z, canvas.height / 2 - state.cy * z);
    ctx.imageSmoothingEnabled = z < 1;
    ctx.drawImage(img, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  function tag(ctx, text, x, right) {
    ctx.font = "12px sans-serif";
    const w = ctx.measureText(text).width + 8;
    const left = right ? x - w - 4 : x + 4;
    ctx.fillStyle = "rgba(0,0,0,0.6)"; ctx.fillRect(left, 4, w, 18);
    ctx.fillStyle = "#fff"; ctx.fillText(text, left + 4, 17);
  }

  function name(side, picture) {
    const what = state.show[side] === "image" ? "" : state.show[side] === "error" ? " |error|" : " SSIM map";
    return (side ? "B: " : "A: ") + picture.label + (picture.setting ? " " + picture.setting : "") + what;
  }

  async function draw() {
    const pics = [picked(0), picked(1)];
    const imgs = await Promise.all(pics.map((p, side) => source(p, state.show[side])));
    state.shown = pics.map((p) => p.id);
    const side = state.mode === "side";
    canvases[1].hidden = !side;
    $("#v-split").hidden = state.mode !== "split";
    $("#v-flip").disabled = state.mode !== "flip";
    for (const canvas of canvases) {
      const ctx = canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#777";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    const ctx = canvases[0].getContext("2d"), z = zoomOf(canvases[0]);
    if (state.mode === "flip") {
      const s = state.flipped ? 1 : 0;
      paint(ctx, canvases[0], imgs[s], z);
      tag(ctx, name(s, pics[s]), 0, false);
    } else if (state.mode === "split") {
      const x = Math.round(state.split * canvases[0].width);
      paint(ctx, canvases[0], imgs[0], z);
      ctx.save();
      ctx.beginPath(); ctx.rect(x, 0, canvases[0].width - x, canvases[0].height); ctx.clip();
      paint(ctx, canvases[0], imgs[1], z);
      ctx.restore();
      ctx.fillStyle = "#fff"; ctx.fillRect(x - 1, 0, 2, canvases[0].height);
      tag(ctx, name(0, pics[0]), 0, false);
      tag(ctx, name(1, pics[1]), canvases[0].width, true);
    } else {
      canvases.forEach((canvas, s) => {
        const c = canvas.getContext("2d");
        paint(c, canvas, imgs[s], zoomOf(canvas));
        tag(c, name(s, pics[s]), 0, false);
      });
    }
    canvases[0].dataset.shown = state.mode === "flip" ? state.shown[state.flipped ? 1 : 0] : state.shown.join(" ");
    canvases[1].dataset.shown = side ? state.shown[1] : "";
    pics.forEach((p, s) => info(s, p));
    const maps = state.show.filter((s) => s !== "image");
    $("#v-legend").textContent = maps.length ? "Maps (dark = close to the original, bright = far): absolute error is " +
      `the mean over channels, white at ≥ ${ERROR_FULL} of 255; the SSIM map is 1 − SSIM of luma over an 11×11 ` +
      "Gaussian window (σ 1.5), white at SSIM ≤ 0, computed here for looking, not the measured score." : "";
  }

  function redraw() { draw().catch((e) => console.error("codecbench viewer:", e)); }

  function centre() {
    const o = original(state.image);
    state.cx = o.crop[2] / 2; state.cy = o.crop[3] / 2;
  }

  function wire() {
    const image = $("#v-image");
    image.replaceChildren(...P.originals.map((o) => option(o.image, o.image)));
    image.addEventListener("change", () => {
      const keep = [0, 1].map((s) => $(".v-config", sides[s]).value);
      state.image = image.value; centre();
      [0, 1].forEach((s) => fillConfigs(s, keep[s]));
      redraw();
    });
    $("#v-target").addEventListener("change", () => {
      const goal = Number($("#v-target").value);
      if (goal > 0) { [0, 1].forEach((s) => fillRates(s, goal)); redraw(); }
    });
    sides.forEach((box, s) => {
      $(".v-config", box).addEventListener("change", () => { fillRates(s); redraw(); });
      $(".v-rate", box).addEventListener("change", redraw);
      $(".v-show", box).addEventListener("change", () => { state.show[s] = $(".v-show", box).value; redraw(); });
    });
    $("#v-mode").addEventListener("change", () => { state.mode = $("#v-mode").value; redraw(); });
    $("#v-zoom").addEventListener("change", () => { state.zoom = Number($("#v-zoom").value); redraw(); });
    $("#v-split").addEventListener("input", () => { state.split = Number($("#v-split").value) / 100; redraw(); });
    $("#v-flip").addEventListener("click", () => { state.flipped = !state.flipped; redraw(); });
    document.addEventListener("keydown", (e) => {
      if ((e.key === "f" || e.key === "F") && !["INPUT", "SELECT"].includes(document.activeElement.tagName)
        && state.mode === "flip") { state.flipped = !state.flipped; redraw(); }
    });
    for (const canvas of canvases) {
      let drag = null;
      canvas.addEventListener("pointerdown", (e) => {
        drag = [e.clientX, e.clientY];
        canvas.setPointerCapture(e.pointerId);
      });
      canvas.addEventListener("pointerup", () => { drag = null; });
      canvas.addEventListener("pointermove", (e) => {
        if (!drag) return;
        const z = zoomOf(canvas);
        state.cx -= (e.clientX - drag[0]) / z; state.cy -= (e.clientY - drag[1]) / z;
        drag = [e.clientX, e.clientY];
        redraw();
      });
      canvas.addEventListener("wheel", (e) => {
        e.preventDefault();
        const levels = [1, 2, 4, 8, 16], z = zoomOf(canvas);
        const next = e.deltaY < 0 ? levels.find((l) => l > z + 1e-9) : [...levels].reverse().find((l) => l < z - 1e-9);
        state.zoom = next || state.zoom;
        $("#v-zoom").value = String(state.zoom);
        redraw();
      }, { passive: false });
    }
  }

  wire();
  centre();
  [0, 1].forEach((s) => fillConfigs(s));
  window.codecbenchViewerState = state;
  return draw();
};
