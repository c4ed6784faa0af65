// codecbench HTML report: charts (plotly.js, inlined above), sortable and filterable tables, the image viewer.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("codecbench-data").textContent);
  const $ = (selector, root = document) => root.querySelector(selector);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function fmt(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  // the markdown of the header lines: **bold** and `code` only
  function inline(text) {
    const out = document.createDocumentFragment();
    for (const part of text.split(/(\*\*[^*]+\*\*|`[^`]+`)/)) {
      if (part.startsWith("**") && part.endsWith("**") && part.length > 4) out.append(el("b", {}, part.slice(2, -2)));
      else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) {
        out.append(el("code", {}, part.slice(1, -1)));
      }
      else out.append(part);
    }
    return out;
  }

  function header() {
    for (const line of DATA.header) $("#header-lines").append(el("li", {}, inline(line.replace(/^- /, ""))));
    $("#conventions").textContent = DATA.conventions;
  }

  // -- charts -----------------------------------------------------------------------------------------------------
  function trace(curve, metric) {
    const points = curve.points.filter((p) => p.bpp !== null && p[metric.key] !== null && p[metric.key] !== undefined
      && (!metric.log || p[metric.key] > 0));
    const unit = metric.unit ? " " + metric.unit : "";
    return {
      type: "scatter", mode: "lines+markers", meta: curve.label, legendgroup: curve.label,
      name: curve.label + (curve.reference ? " (reference)" : "") + (curve.anchor ? " (anchor)" : ""),
      x: points.map((p) => p.bpp), y: points.map((p) => p[metric.key]),
      customdata: points.map((p) => [p.setting, curve.codec, p.n_ok + "/" + p.n_total]),
      line: { color: curve.colour, dash: curve.dash, width: 1.6 },
      marker: { symbol: curve.marker, size: 7, color: curve.colour },
      hovertemplate: "<b>%{meta}</b><br>codec: %{customdata[1]}<br>setting: %{customdata[0]}<br>" +
        "bpp: %{x:.4f}<br>" + metric.label + ": %{y:." + metric.digits + "f}" + unit +
        "<br>images: %{customdata[2]}<extra></extra>",
    };
  }

  const charts = [];

  function drawCharts() {
    const lossy = DATA.curves.filter((c) => !c.lossless);
    for (const metric of DATA.metrics) {
      const traces = lossy.filter((c) => !(metric.timing && c.reference)).map((c) => trace(c, metric))
        .filter((t) => t.x.length);
      if (!traces.length) continue;
      const div = el("div", { class: "chart", id: "chart-" + metric.key, "data-metric": metric.key });
      $("#charts").append(div);
      const unit = metric.unit ? " [" + metric.unit + "]" : "";
      Plotly.newPlot(div, traces, {
        title: { text: DATA.dataset + ": " + metric.label + " vs rate", font: { size: 14 } },
        xaxis: { title: { text: "rate [bpp]" } },
        yaxis: { title: { text: metric.label + unit + (metric.note ? "  " + metric.note : "") },
          type: metric.log ? "log" : "linear" },
        hovermode: "closest", margin: { l: 60, r: 10, t: 40, b: 45 }, legend: { font: { size: 10 } },
      }, { responsive: true, displaylogo: false });
      div.on("plotly_legendclick", (event) => toggleCurve(event.data[event.curveNumber].meta,
        event.data[event.curveNumber].visible));
      charts.push(div);
    }
  }

  // a legend click hides (or shows) that curve in every chart
  function toggleCurve(label, visible) {
    const next = visible === "legendonly" ? true : "legendonly";
    for (const div of charts) {
      const indices = div.data.map((t, i) => (t.meta === label ? i : -1)).filter((i) => i >= 0);
      if (indices.length) Plotly.restyle(div, { visible: next }, indices);
    }
    return false;
  }

  // -- tables -----------------------------------------------------------------------------------------------------
  // columns: {label, get(row) -> sort value, show(row) -> text, text: left-aligned}
  function sortableTable(container, columns, rows) {
    const body = el("tbody");
    const head = el("tr", {}, ...columns.map((c) => el("th", { class: c.text ? "text" : null }, c.label)));
    const table = el("table", {}, el("thead", {}, head), body);
    let shown = rows.slice();
    let order = { index: -1, dir: 1 };
    function fill() {
      body.replaceChildren(...shown.map((row) => el("tr", {}, ...columns.map((c) => el("td", {
        class: [c.text ? "text" : "", c.cls ? c.cls(row) : ""].join(" ").trim() || null,
      }, c.show(row))))));
    }
    function sort() {
      if (order.index < 0) return;
      const get = columns[order.index].get;
      shown.sort((a, b) => compare(get(a), get(b)) * order.dir);
    }
    head.childNodes.forEach((th, index) => th.addEventListener("click", () => {
      order = { index, dir: order.index === index ? -order.dir : 1 };
      head.childNodes.forEach((h, i) => (i === index ? h.setAttribute("data-sort", order.dir > 0 ? "asc" : "desc")
        : h.removeAttribute("data-sort")));
      sort();
      fill();
    }));
    fill();
    container.replaceChildren(el("div", { class: "table-wrap" }, table));
    return { setRows(next) { shown = next.slice(); sort(); fill(); } };
  }

  function compare(a, b) { // numbers before text, missing values last, whichever the direction
    const missing = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
    if (missing(a) || missing(b)) return missing(a) - missing(b);
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  const num = (key, digits, label) => ({ label, get: (r) => r[key], show: (r) => fmt(r[key], digits) });
  const text = (key, label) => ({ label, text: true, get: (r) => r[key], show: (r) => String(r[key] ?? "—") });
  const bd = (get, label) => ({ label, get: (r) => (get(r) ? get(r).value : null),
    show: (r) => { const v = get(r); return v === null ? "anchor" : v === undefined ? "—"
      : v.value === null ? "n/a (" + v.reason + ")" : (v.value > 0 ? "+" : "") + v.value.toFixed(2); } });

  function tables() {
    const anchors = [...new Set(DATA.summary.flatMap((r) => Object.keys(r.bd)))];
    sortableTable($("#summary-table"), [
      text("label", "codec"), num("points", 0, "points"), num("bpp_min", 3, "bpp from"), num("bpp_max", 3, "bpp to"),
      num("psnr_at_0.5", 2, "PSNR @ 0.5 bpp [dB]"),
      ...anchors.flatMap((a) => [
        bd((r) => (r.bd[a] === null ? null : r.bd[a] && r.bd[a].psnr), "BD-rate vs " + a + " (PSNR) %"),
        bd((r) => (r.bd[a] === null ? null : r.bd[a] && r.bd[a].ms_ssim_db), "BD-rate vs " + a + " (MS-SSIM dB) %"),
      ]),
    ], DATA.summary);
    const quality = DATA.metrics.filter((m) => !m.timing);
    const points = DATA.curves.flatMap((c) => c.points.map((p) => ({
      ...p, label: c.label + (c.reference ? " (reference)" : ""), ok: p.n_ok + "/" + p.n_total,
      exact: c.lossless ? (p.exact ? "yes" : "NO") : "",
    })));
    sortableTable($("#settings-table"), [text("label", "codec"), text("setting", "setting"), text("ok", "ok/total"),
      num("bpp", 4, "bpp"), ...quality.map((m) => num(m.key, m.digits, m.label + (m.unit ? " " + m.unit : ""))),
      num("enc_ms", 2, "enc ms/img"), num("dec_ms", 2, "dec ms/img"), text("exact", "lossless exact")], points);
    for (const table of DATA.bd) {
      const box = el("div");
      $("#bd-tables").append(el("h3", {}, "BD-rate against " + table.anchor), box);
      if (table.label === null || table.base === null) {
        box.append(el("p", { class: "note" }, table.note || "the anchor has no lossy curve here"));
        continue;
      }
      const cols = [text("label", "codec"), num("points", 0, "points"),
        ...Object.entries(table.columns).map(([key, label]) => bd((r) => r[key], label)),
        bd((r) => r.bd_psnr, "BD-PSNR dB")];
      const wrap = el("div");
      box.append(el("p", { class: "note" }, "Against the anchor " + table.base + "; " + table.method +
        " on log10(bpp); negative BD-rate / positive BD-PSNR = better than the anchor."), wrap,
      el("ul", { class: "note" }, ...table.notes.map((n) => el("li", {}, n))));
      sortableTable(wrap, cols, table.rows);
    }
    const fixed = DATA.fixed;
    const rows = fixed.rows.map((r) => Object.fromEntries([["label", r.label],
      ...r.psnr_at.map((v, i) => ["q" + i, v]), ...r.bpp_at.map((v, i) => ["r" + i, v])]));
    sortableTable($("#fixed-table"), [text("label", "codec"),
      ...fixed.rates.map((rate, i) => num("q" + i, 2, "PSNR @ " + rate + " bpp")),
      ...fixed.qualities.map((q, i) => num("r" + i, 4, "bpp @ " + q + " dB"))], rows);
  }

  // -- how sure: intervals over images (DATA.confidence, DATA.equal_rate; DATA.references) ---------------------------
  // an interval {value, low, high, n} as "value unit [low, high]" (as the markdown report writes it)
  function interval(est, digits, signed, unit = "") {
    if (!est || est.value === null) return "—";
    const f = (v) => (signed && v > 0 ? "+" : "") + v.toFixed(digits);
    return f(est.value) + unit + (est.low === null || est.high === null ? "" : ` [${f(est.low)}, ${f(est.high)}]`);
  }
  const est = (key, digits, label, signed, unit) => ({ label, get: (r) => (r[key] ? r[key].value : null),
    show: (r) => interval(r[key], digits, signed, unit) });
  const verdict = { label: "verdict", text: true, get: (r) => r.verdict_text, show: (r) => r.verdict_text ?? "—",
    cls: (r) => (r.verdict ? "verdict-" + r.verdict.replace(" ", "-") : "") };
  const betterOn = (n) => ({ label: "better on", get: (r) => r.better,
    show: (r) => (r.better === null ? "—" : `${r.better} of ${n(r)} images`) });

  function confidence() {
    const c = DATA.confidence;
    if (!c) return;
    const wrap = el("div");
    $("#confidence").append(el("h3", {}, `How sure: BD-rate against ${c.anchor} with 95 % intervals over images`),
      el("p", { class: "note" }, `BD-rate (PSNR) against ${c.anchor} (negative = fewer bits than the anchor for the `
        + "same PSNR). Mean per-image BD-rate: each image's own curve against the anchor's on that image, averaged "
        + "where the two overlap; better on: images whose own BD-rate is negative. The verdict reads the interval "
        + "of the mean curves' BD-rate."), wrap, el("p", { class: "note" }, "Intervals: " + c.method + "."));
    sortableTable(wrap, [text("label", "codec"), est("of_means", 2, "BD-rate of the mean curves [95 % interval]", true,
      "%"), est("per_image", 2, "mean per-image BD-rate [95 % interval]", true, "%"), betterOn((r) => r.images),
    { ...verdict, cls: (r) => (r.reason ? "" : verdict.cls(r)) }], c.rows);
  }

  function equalRate() {
    const box = $("#equal-rate-tables");
    if (!DATA.equal_rate.length) {
      box.append(el("p", { class: "note" }, "This report holds no equal-rate records (--target-bpp of codecbench run or pytest bench)."));
      return;
    }
    for (const t of DATA.equal_rate) {
      const bpp = t.target_metric === "bpp", d = bpp ? 4 : 2;
      const cols = [{ label: "codec", text: true, get: (r) => r.label, show: (r) => r.label + (r.knobless ? " †" : "") },
        { label: "images", get: (r) => r.images, show: (r) => `${r.images}/${r.images + r.failed}` },
        { label: (bpp ? "bpp" : "PSNR dB") + " reached: mean (min–max)", get: (r) => r.reached_mean,
          show: (r) => `${fmt(r.reached_mean, d)} (${fmt(r.reached_min, d)}–${fmt(r.reached_max, d)})` },
        { label: "on target", get: (r) => r.on_target, show: (r) => `${r.on_target}/${r.images}` },
        est("outcome", bpp ? 2 : 4, (bpp ? "PSNR dB" : "bpp") + " [95 % interval]", false)];
      if (t.anchor !== null) {
        cols.push({ label: `Δ ${bpp ? "PSNR dB" : "bpp %"} vs ${t.anchor} [95 % interval]`, get: (r) => (r.diff ? r.diff.value
          : null), show: (r) => (r.anchor ? "anchor" : r.diff ? interval(r.diff, bpp ? 2 : 1, true, bpp ? "" : "%")
          : "— (no common image)") }, betterOn((r) => r.diff.n), verdict);
      }
      const wrap = el("div");
      box.append(el("h3", {}, `At ${t.target_value} ${bpp ? "bpp" : "dB PSNR"} (${t.device})`), wrap);
      if (t.knobless_note) box.append(el("p", { class: "note" }, t.knobless_note));
      sortableTable(wrap, cols, t.rows);
    }
    box.append(el("p", { class: "note" }, "Intervals: " + DATA.equal_rate[0].method + "."));
  }

  function referenceCurves() {
    if (!DATA.references.length) return;
    const items = DATA.references.map((r) => el("li", {}, el("b", {}, r.label), ": " + r.description,
      el("ul", {}, ...(r.provenance ? Object.entries(r.provenance).map(([k, v]) => el("li", {}, k + ": " + v))
        : [el("li", {}, "provenance: " + r.note)]))));
    $("#references").append(el("h3", {}, "Reference curves (not measured here)"), el("ul", { class: "note" }, ...items));
  }

  function perImage() {
    const cols = DATA.images.columns;
    const rows = DATA.images.rows.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
    const digits = { bpp: 4, bytes: 0, ssim: 4, ms_ssim: 4, enc_ms: 2, dec_ms: 2 };
    const table = sortableTable($("#per-image-table"), cols.map((c) => (["label", "setting", "image", "device", "error"]
      .includes(c) ? { ...text(c, c), cls: c === "error" ? (r) => (r.error ? "failed" : "") : null }
      : num(c, digits[c] ?? 2, c))), []);
    for (const [id, key] of [["#filter-label", "label"], ["#filter-image", "image"]]) {
      for (const value of [...new Set(rows.map((r) => r[key]))].sort(compare)) {
        $(id).append(el("option", { value }, value));
      }
    }
    const LIMIT = 2000;
    function update() {
      const label = $("#filter-label").value, image = $("#filter-image").value, failed = $("#filter-failed").value;
      const match = rows.filter((r) => (!label || r.label === label) && (!image || r.image === image)
        && (!failed || (failed === "failed") === Boolean(r.error)));
      table.setRows(match.slice(0, LIMIT));
      $("#per-image-count").textContent = match.length > LIMIT
        ? `${LIMIT} of ${match.length} rows shown: filter to see the others` : `${match.length} rows`;
    }
    for (const id of ["#filter-label", "#filter-image", "#filter-failed"]) $(id).addEventListener("change", update);
    update();
  }

  window.codecbench = { data: DATA, charts };
  header();
  drawCharts();
  tables();
  confidence();
  referenceCurves();
  equalRate();
  perImage();
  window.codecbenchViewer(DATA).then(() => { document.body.dataset.ready = "1"; });
})();
