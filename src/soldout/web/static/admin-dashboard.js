// The live dashboard: server-sent snapshots (one per second) drawn with Chart.js.
"use strict";
(() => {
  const root = document.getElementById("live");
  if (!root || typeof Chart === "undefined") return;
  const KEEP = 120; // seconds on the time charts
  const ink = "#111", blue = "#0b4fa8", amber = "#b36b00", grey = "#8a8a8a", green = "#0a6b2d";
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#333";
  Chart.defaults.maintainAspectRatio = false;
  const time = (iso) => iso.slice(11, 19);
  const line = (label, color) => ({ label, data: [], borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0 });
  const units = new Chart(document.getElementById("chart-units"), {
    type: "line",
    data: { labels: [], datasets: [line("Sold", ink), line("Held", amber)] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 6 } } } },
  });
  const rate = new Chart(document.getElementById("chart-rate"), {
    type: "line",
    data: { labels: [], datasets: [line("Claims per second", blue)] },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true }, x: { ticks: { maxTicksLimit: 6 } } } },
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
  const history = document.querySelector("#history-table tbody");
  const text = (id, value) => { const el = document.getElementById(id); if (el && el.textContent !== String(value)) el.textContent = value; };
  let updates = 0, lastSaid = 0;

  function addPoint(s) {
    units.data.labels.push(time(s.at)); rate.data.labels.push(time(s.at));
    units.data.datasets[0].data.push(s.sold); units.data.datasets[1].data.push(s.held);
    rate.data.datasets[0].data.push(s.claims_per_second);
    for (const c of [units, rate]) {
      if (c.data.labels.length > KEEP) { c.data.labels.shift(); c.data.datasets.forEach((d) => d.data.shift()); }
    }
    const row = document.createElement("tr");
    for (const v of [time(s.at), s.sold, s.held, s.claims_per_second, s.waiting_room ?? "off"]) {
      const cell = document.createElement("td"); cell.textContent = v;
      if (row.children.length) cell.className = "num";
      row.appendChild(cell);
    }
    history.prepend(row);
    while (history.children.length > 20) history.lastChild.remove();
  }

  function show(s) {
    text("sold", s.sold); text("held", s.held); text("available", s.available);
    text("rate", s.claims_per_second); text("reservations", s.reservations);
    text("room", s.waiting_room ?? "off");
    const status = document.getElementById("status");
    status.textContent = s.status.replace("_", " "); status.className = "status s-" + s.status;
    const codes = Object.keys(s.skus);
    skus.data.labels = codes;
    ["paid", "held", "set_aside", "available"].forEach((k, i) => { skus.data.datasets[i].data = codes.map((c) => s.skus[c][k]); });
    for (const code of codes) {
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

  function redraw() { units.update("none"); rate.update("none"); skus.update("none"); }

  const source = new EventSource(root.dataset.source);
  source.addEventListener("open", () => text("connection", "live"));
  source.addEventListener("error", () => text("connection", "reconnecting…"));
  source.addEventListener("history", (event) => {
    units.data.labels = []; rate.data.labels = [];
    units.data.datasets.forEach((d) => { d.data = []; }); rate.data.datasets[0].data = [];
    history.replaceChildren();
    const past = JSON.parse(event.data);
    past.forEach(addPoint);
    if (past.length) show(past[past.length - 1]);
    redraw();
  });
  source.addEventListener("snapshot", (event) => {
    const s = JSON.parse(event.data);
    addPoint(s); show(s); redraw();
    root.dataset.updates = String(++updates);
  });
})();
