// The live dashboard: the sale's curve since it opened (carried by the page, from the
// server's record), then server-sent snapshots (one per second) drawn with Chart.js.
// Times are on a linear axis in milliseconds, so buckets of the record and live seconds
// sit where they belong; a reconnection starts again from the server's curve.
"use strict";
(() => {
  const root = document.getElementById("live");
  if (!root || typeof Chart === "undefined") return;
  const LIMIT = 1200; // points kept per line: past it, the older half is thinned
  const ROWS = 30; // rows of the table version
  const ink = "#111", blue = "#0b4fa8", amber = "#b36b00", grey = "#8a8a8a", green = "#0a6b2d";
  const palette = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#111111", "#f0e442", "#8a8a8a", "#6a3d9a"];
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#333";
  Chart.defaults.maintainAspectRatio = false;
  // times on the shop's wall clock (its zone is the page's `data-zone`), as the admin's pages show them
  const zone = root.dataset.zone || "UTC";
  const parts = (ms, fields) => {
    const f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", ...fields });
    return Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  };
  const clock = (ms) => { const p = parts(ms, { hour: "2-digit", minute: "2-digit", second: "2-digit" }); return `${p.hour}:${p.minute}:${p.second}`; };
  const day = (ms) => { const p = parts(ms, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }); return `${p.month}-${p.day} ${p.hour}:${p.minute}`; };
  const named = (ms) => parts(ms, { timeZoneName: "short" }).timeZoneName || zone;
  let span = 0; // ms from the first point to the last: a long sale's ticks name the day
  const timeAxis = { type: "linear", bounds: "data", ticks: { maxTicksLimit: 6, callback: (v) => (span > 86400000 ? day(v) : clock(v)) } };
  const tooltip = { callbacks: { title: (items) => (items.length ? `${clock(items[0].parsed.x)} ${named(items[0].parsed.x)}` : "") } };
  const line = (label, color) => ({ label, data: [], borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0 });
  const units = new Chart(document.getElementById("chart-units"), {
    type: "line",
    data: { datasets: [line("Sold", ink), line("Held", amber)] },
    options: { parsing: false, plugins: { tooltip }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: timeAxis } },
  });
  const rate = new Chart(document.getElementById("chart-rate"), {
    type: "line",
    data: { datasets: [line("Claims per second", blue)] },
    options: { parsing: false, plugins: { legend: { display: false }, tooltip }, scales: { y: { beginAtZero: true }, x: timeAxis } },
  });
  const skuCanvas = document.getElementById("chart-sku-time");
  const codes = Array.from(document.querySelectorAll("#sku-table tr[data-sku]"), (tr) => tr.dataset.sku);
  const perSku = skuCanvas && new Chart(skuCanvas, {
    type: "line",
    data: { datasets: codes.map((c, i) => line(c, palette[i % palette.length])) },
    options: { parsing: false, plugins: { tooltip }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: timeAxis } },
  });
  const skus = new Chart(document.getElementById("chart-skus"), {
    type: "bar",
    data: { labels: [], datasets: [
      { label: "Paid", data: [], backgroundColor: ink },
      { label: "Held", data: [], backgroundColor: amber },
      { label: "Set aside", data: [], backgroundColor: green },
      { label: "Available", data: [], backgroundColor: grey },
    ] },
    options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } },
  });
  const timeCharts = [units, rate, perSku].filter(Boolean);
  const history = document.querySelector("#history-table tbody");
  const text = (id, value) => { const el = document.getElementById(id); if (el && el.textContent !== String(value)) el.textContent = value; };
  let updates = 0, lastSaid = 0, first = null, last = null;

  function thin(data) { // keep every other point of the older half: bounded, shape kept
    const half = data.length >> 1;
    return data.slice(0, half).filter((_, i) => i % 2 === 0).concat(data.slice(half));
  }

  function addPoint(s) {
    const x = Date.parse(s.at);
    if (last !== null && x <= last) return; // a snapshot the curve already covers
    if (first === null) first = x;
    last = x; span = last - first;
    units.data.datasets[0].data.push({ x, y: s.sold });
    units.data.datasets[1].data.push({ x, y: s.held });
    rate.data.datasets[0].data.push({ x, y: s.claims_per_second });
    if (perSku) codes.forEach((c, i) => perSku.data.datasets[i].data.push({ x, y: s.skus[c] ? s.skus[c].sold : 0 }));
    for (const c of timeCharts) {
      for (const d of c.data.datasets) if (d.data.length > LIMIT) d.data = thin(d.data);
    }
    const row = document.createElement("tr");
    for (const v of [clock(x), s.sold, s.held, s.claims, s.claims_per_second]) {
      const cell = document.createElement("td"); cell.textContent = v;
      if (row.children.length) cell.className = "num";
      row.appendChild(cell);
    }
    history.prepend(row);
    while (history.children.length > ROWS) history.lastChild.remove();
  }

  function show(s) {
    text("sold", s.sold); text("held", s.held); text("available", s.available);
    text("rate", s.claims_per_second); text("reservations", s.reservations);
    text("room", s.waiting_room ?? "off");
    const status = document.getElementById("status");
    status.textContent = s.status.replace("_", " "); status.className = "status s-" + s.status;
    const names = Object.keys(s.skus);
    skus.data.labels = names;
    ["paid", "held", "set_aside", "available"].forEach((k, i) => { skus.data.datasets[i].data = names.map((c) => s.skus[c][k]); });
    for (const code of names) {
      const tr = document.querySelector(`#sku-table tr[data-sku="${CSS.escape(code)}"]`);
      if (!tr) continue;
      for (const k of ["available", "set_aside", "held", "paid"]) {
        const td = tr.querySelector(`[data-k="${k}"]`); if (td) td.textContent = s.skus[code][k];
      }
    }
    const now = Date.now();
    if (now - lastSaid > 10000) { // a screen reader hears a summary every 10 s, not every tick
      lastSaid = now;
      text("announce", `${s.sold} sold, ${s.held} held, ${s.available} available, ${s.claims_per_second} claims per second.`);
    }
  }

  function redraw() { for (const c of [...timeCharts, skus]) c.update("none"); }

  function drawCurve(curve) { // the server's record from the opening: replaces what is drawn
    for (const c of timeCharts) c.data.datasets.forEach((d) => { d.data = []; });
    history.replaceChildren();
    first = last = null;
    curve.points.forEach(addPoint);
    root.dataset.points = String(curve.points.length);
    redraw();
  }

  drawCurve(JSON.parse(document.getElementById("curve").textContent));
  const source = new EventSource(root.dataset.source);
  source.addEventListener("open", () => text("connection", "live"));
  source.addEventListener("error", () => text("connection", "reconnecting…"));
  source.addEventListener("history", (event) => drawCurve(JSON.parse(event.data)));
  const moving = new Set(["on_sale", "paused", "sold_out"]); // a closed sale's curve stays put
  source.addEventListener("snapshot", (event) => {
    const s = JSON.parse(event.data);
    if (moving.has(s.status)) addPoint(s);
    show(s); redraw();
    root.dataset.updates = String(++updates);
  });
})();
