/* soldout storefront: live counts, countdown on the server's clock, reserve, waiting
   room, proof of work, buy and pay. Every call carries `X-Soldout-Web: 1` and the
   same-origin cookie; every answer is shown in words. */
"use strict";
(() => {
  // -- talking to the API ----------------------------------------------------------
  async function api(method, path, body, headers) {
    const init = { method, credentials: "same-origin", headers: { "X-Soldout-Web": "1", ...(headers || {}) } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init); // throws on a network failure
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    return { status: response.status, data, headers: response.headers };
  }
  const codeOf = (res) => (res.data && res.data.error ? res.data.error.code : "");
  const messageOf = (res) => (res.data && res.data.error ? res.data.error.message : "");

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // -- time: the server's clock, the offset computed once ----------------------------
  const clock = { offset: null, now() { return Date.now() + (this.offset || 0); } };
  function syncFrom(serverTime, sentAt, receivedAt) {
    if (clock.offset !== null || !serverTime) return;
    clock.offset = Date.parse(serverTime) - (sentAt + receivedAt) / 2;
  }
  function duration(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const two = (n) => String(n).padStart(2, "0");
    return (d ? `${d} d ` : "") + `${two(h)}:${two(m)}:${two(s)}`;
  }
  const hhmmss = (iso) => new Date(Date.parse(iso)).toISOString().slice(11, 19) + " UTC";

  function money(amount, currency) {
    const f = new Intl.NumberFormat(document.documentElement.lang || "en", { style: "currency", currency });
    return f.format(amount / 10 ** f.resolvedOptions().maximumFractionDigits);
  }

  function say(el, kind, html) {
    el.className = "result " + kind;
    el.innerHTML = html;
  }
  const esc = (t) => String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  const STATUS = {
    scheduled: "Coming soon", reservations_open: "Reservations open", on_sale: "On sale now",
    paused: "Paused", sold_out: "Sold out", closed: "This round has closed",
  };

  // -- the launch page -------------------------------------------------------------
  function launchPage(root) {
    const id = root.dataset.launch;
    const $ = (sel) => root.querySelector(sel);
    const result = $("#result"), statusEl = $("#status"), countdown = $("#countdown");
    const progress = $("#progress"), room = $("#room"), roomText = $("#room-text");
    const buyForm = $("#buy-form"), buyButton = $("#buy"), reserveButton = $("#reserve");
    let view = null;
    let opens = Date.parse(root.dataset.opens);
    let closes = root.dataset.closes ? Date.parse(root.dataset.closes) : null;
    let status = root.dataset.status;
    let purchase = null; // {sku, key}: one intended purchase, the same key on every retry
    let admission = null; // the waiting room's admission token, in memory only
    let busy = false;

    function sku() {
      const picked = buyForm.querySelector("input[name=sku]:checked");
      return picked ? picked.value : null;
    }

    function showStatus() {
      let s = status;
      if ((s === "scheduled" || s === "reservations_open") && clock.now() >= opens) s = "on_sale";
      statusEl.textContent = STATUS[s] || s;
      statusEl.className = "status status-" + s;
      if (s === "scheduled" || s === "reservations_open") {
        countdown.textContent = "Opens in " + duration(opens - clock.now());
      } else if (s === "on_sale" && closes) {
        countdown.textContent = "Closes in " + duration(closes - clock.now());
      } else if (s === "on_sale") {
        countdown.textContent = "Open now";
      } else if (s === "closed") {
        countdown.textContent = "Closed. Watch this page for the next round.";
      } else if (s === "paused") {
        countdown.textContent = "Paused by the maker: try again shortly.";
      } else if (s === "sold_out") {
        countdown.textContent = "Every unit open to everyone is sold. Units may come back if a buyer does not pay.";
      }
    }

    function render(v) {
      view = v;
      status = v.status;
      opens = Date.parse(v.sale_opens_at);
      closes = v.sale_closes_at ? Date.parse(v.sale_closes_at) : null;
      for (const s of v.skus) {
        const row = root.querySelector(`tr[data-sku="${CSS.escape(s.code)}"]`);
        if (!row) continue;
        row.querySelector(".batch").textContent = s.batch;
        row.querySelector(".available").textContent = s.sold_out ? "Sold out" : s.available;
        row.querySelector(".set-aside").textContent = s.set_aside;
        row.querySelector(".held").textContent = s.held;
        row.querySelector(".sold").textContent = s.sold;
      }
      const n = v.reservations;
      $("#reservations").textContent = `${n} ${n === 1 ? "fan has" : "fans have"} reserved.`;
      showStatus();
    }

    let pollTimer = null;
    async function poll() {
      clearTimeout(pollTimer);
      try {
        const sent = Date.now();
        const res = await api("GET", `/api/v1/launches/${id}`);
        syncFrom(res.data && res.data.server_time, sent, Date.now());
        if (res.status === 200) render(res.data);
      } catch (_) { /* keep the last counts; try again on the next beat */ }
      const toOpen = opens - clock.now();
      const soon = toOpen > 0 && toOpen < 15000;
      pollTimer = setTimeout(poll, document.hidden ? 15000 : soon ? Math.min(2000, toOpen + 150) : 5000);
    }
    let wasBefore = clock.now() < opens;
    setInterval(() => {
      showStatus();
      const before = clock.now() < opens;
      if (wasBefore && !before) poll(); // opening: fetch the real state at once
      wasBefore = before;
    }, 250);
    poll();

    // reserve
    if (reserveButton) reserveButton.addEventListener("click", async () => {
      reserveButton.disabled = true;
      const body = root.dataset.mode === "draw" ? { sku: sku() } : undefined;
      try {
        const res = await api("POST", `/api/v1/launches/${id}/reservations`, body);
        if (res.status === 201 || res.status === 200) {
          reserveButton.textContent = root.dataset.mode === "draw" ? "Entered" : "Reserved";
          say(result, "ok", root.dataset.mode === "draw"
            ? "You are in the draw. At opening you will see here (and in your messages) whether you won."
            : "Reserved. Come back when the sale opens.");
          poll();
          return;
        }
        say(result, "bad", esc(reserveProblem(res)));
      } catch (_) {
        say(result, "wait", "We could not reach the shop. Please try again.");
      }
      reserveButton.disabled = false;
    });

    function reserveProblem(res) {
      const code = codeOf(res);
      if (res.status === 401) return "Please sign in again.";
      if (code === "reservations_not_open") return "Reservations are not open yet.";
      if (code === "account_too_new") return "This launch is for fans who joined before a set date.";
      if (code === "closed") return "This round has closed.";
      return messageOf(res) || "That did not work. Please try again.";
    }

    // waiting room: join, then poll at the pace the server asks for
    async function admitted() {
      if (admission) return admission;
      room.hidden = false;
      let res = await api("POST", `/api/v1/launches/${id}/waiting-room`);
      for (;;) {
        if (res.status !== 200) {
          roomText.textContent = res.status === 401 ? "Please sign in again." : messageOf(res) || "The waiting room is not available.";
          return null;
        }
        const r = res.data;
        if (r.state === "admitted" && r.admission_token) {
          admission = r.admission_token;
          roomText.textContent = "It is your turn.";
          return admission;
        }
        const where = r.position !== null ? `You are number ${r.position} in the queue.` : `About ${r.ahead} ${r.ahead === 1 ? "fan is" : "fans are"} ahead of you (places are shuffled at opening).`;
        const wait = r.estimated_wait_seconds > 0 ? ` Estimated wait: ${duration(r.estimated_wait_seconds * 1000)}.` : "";
        roomText.textContent = `You are in the queue; we will let you in shortly. ${where}${wait} Keep this page open.`;
        await sleep(Math.max(0.5, r.poll_after_seconds || 2) * 1000);
        res = await api("GET", `/api/v1/launches/${id}/waiting-room`);
      }
    }

    // proof of work, solved in a worker, with progress in words
    function proofOfWork() {
      return api("POST", `/api/v1/launches/${id}/challenge`).then((res) => {
        if (res.status !== 200) throw Object.assign(new Error("challenge"), { res });
        const { token, difficulty } = res.data;
        progress.hidden = false;
        progress.textContent = "Checking you are not a bot…";
        return new Promise((resolve, reject) => {
          const worker = new Worker("/static/store-pow.js");
          const expected = 2 ** difficulty;
          worker.onmessage = (e) => {
            if (e.data.done) {
              worker.terminate();
              progress.textContent = "Checked: you are not a bot.";
              resolve(`${token}:${e.data.nonce}`);
            } else {
              const pct = Math.min(99, Math.round((100 * e.data.tries) / (expected * 3)));
              progress.textContent = `Checking you are not a bot… ${pct} %`;
            }
          };
          worker.onerror = (e) => { worker.terminate(); reject(e); };
          worker.postMessage({ token, difficulty });
        });
      });
    }

    if (buyForm) buyForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!buyButton || busy) return;
      const code = sku();
      if (!code) { say(result, "bad", "Choose a model first."); return; }
      busy = true;
      buyButton.disabled = true;
      const store = `soldout:key:${id}:${code}`;
      if (!purchase || purchase.sku !== code) {
        purchase = { sku: code, key: sessionStorage.getItem(store) || newKey() };
        sessionStorage.setItem(store, purchase.key);
      }
      say(result, "wait", "Asking the shop…");
      try {
        const headers = { "Idempotency-Key": purchase.key };
        if (root.dataset.room === "1") {
          const token = await admitted();
          if (!token) { say(result, "bad", "You need to wait your turn in the waiting room."); return; }
          headers["Admission-Token"] = token;
        }
        if (Number(root.dataset.pow) > 0) headers["Proof-Of-Work"] = await proofOfWork();
        const res = await api("POST", `/api/v1/launches/${id}/claims`, { sku: code }, headers);
        claimed(res, store);
      } catch (error) {
        if (error && error.res) {
          say(result, "bad", esc(messageOf(error.res) || "The bot check could not start. Please try again."));
        } else {
          say(result, "wait", "We could not reach the shop. Press Buy again: it is safe, a retry never buys twice.");
        }
      } finally {
        busy = false;
        buyButton.disabled = false;
      }
    });

    function claimed(res, store) {
      const code = codeOf(res);
      if (res.status === 201 || res.status === 200) {
        const c = res.data;
        purchase = null;
        admission = null;
        sessionStorage.removeItem(store);
        say(result, "ok", `You got one! It is held for you until ${esc(hhmmss(c.expires_at))}: ` +
          `${esc(money(c.total, c.currency))} to pay. <a id="claim-link" href="/claims/${encodeURIComponent(c.id)}">Pay now</a>`);
        poll();
        return;
      }
      if (code.startsWith("admission")) admission = null;
      const words = {
        sold_out: ["bad", "Sold out: every unit open to everyone has been sold. Units come back if a buyer does not pay in time."],
        insufficient_stock: ["bad", "Not enough left for that many."],
        not_open: ["wait", "Not open yet. Wait for the countdown to reach zero, then press Buy."],
        closed: ["bad", "This round has closed. Watch this page for the next round."],
        limit_reached: ["bad", `You have reached the limit for this launch (${view ? view.per_fan_limit : 1} per fan). <a href="/me">See your orders</a>.`],
        paused: ["wait", "The sale is paused for a moment. Press Buy again shortly."],
        reservation_required: ["bad", "Only fans who reserved can buy in this launch."],
        draw_only: ["bad", "This launch is a draw: enter it with the button above."],
        duplicate_buyer: ["bad", "Several accounts share one address or phone, so this purchase is held back."],
        admission_required: ["wait", "You need your turn in the waiting room. Press Buy to join it."],
        admission_expired: ["wait", "Your turn in the waiting room ran out. Press Buy to join again."],
        admission_invalid: ["wait", "Your waiting-room pass did not work. Press Buy to join again."],
        pow_invalid: ["wait", "The bot check did not pass. Press Buy to try again."],
        pow_expired: ["wait", "The bot check took too long. Press Buy to try again."],
        pow_reused: ["wait", "The bot check was already used. Press Buy to try again."],
        pow_required: ["wait", "A bot check is needed. Press Buy to try again."],
        account_too_new: ["bad", "This launch is for fans who joined before a set date."],
      };
      if (words[code]) { say(result, words[code][0], words[code][1]); return; }
      if (res.status === 401) { say(result, "bad", `Please <a href="/signin?next=/launches/${id}">sign in again</a>.`); return; }
      if (res.status === 429) {
        const after = res.headers.get("retry-after") || "1";
        say(result, "wait", `Too many tries at once. Wait ${esc(after)} s, then press Buy again.`);
        return;
      }
      if (code === "idempotency_key_reused") { purchase = null; sessionStorage.removeItem(store); }
      if (res.status >= 500 || res.status === 0) {
        say(result, "wait", "Something went wrong on our side and nothing was bought by this try. Press Buy again: it is safe, a retry never buys twice.");
        return;
      }
      say(result, "bad", esc(messageOf(res) || "That did not work. Please try again."));
    }
  }

  // -- the claim page: pay within the window -------------------------------------------
  function claimPage(root) {
    const id = root.dataset.claim;
    const result = root.querySelector("#result");
    const deadline = root.querySelector("#deadline");
    const form = root.querySelector("#pay-form");
    const expires = Date.parse(root.dataset.expires);
    // The page was rendered with the server's time: correct it by the launch's clock.
    const sent = Date.now();
    api("GET", `/api/v1/launches/${root.dataset.launch}`).then((res) => {
      syncFrom(res.data && res.data.server_time, sent, Date.now());
    }).catch(() => syncFrom(root.dataset.serverTime, sent, sent));
    let over = false;
    if (deadline) setInterval(() => {
      if (clock.offset === null || over) return;
      const left = expires - clock.now();
      if (left <= 0) {
        over = true;
        deadline.textContent = "The time to pay has run out; the unit went back on sale.";
        if (form) form.querySelector("button").disabled = true;
      } else {
        deadline.textContent = `Time left to pay: ${duration(left)} (until ${hhmmss(root.dataset.expires)}).`;
      }
    }, 250);

    async function pending() {
      for (let i = 0; i < 60; i++) {
        await sleep(2000);
        let res;
        try { res = await api("GET", `/api/v1/claims/${id}`); } catch (_) { continue; }
        if (res.status !== 200) continue;
        const c = res.data;
        if (c.order_id) { paid(c.order_id); return; }
        const state = c.payment && c.payment.state;
        if (state === "declined" || state === "failed") {
          say(result, "bad", "Your bank declined the payment. The unit is still held for you: try another card.");
          form.querySelector("button").disabled = false;
          return;
        }
        if (c.state === "expired") { say(result, "bad", "The time to pay ran out."); return; }
      }
      say(result, "wait", "Your bank has still not answered. Reload this page later to see the outcome.");
    }

    function paid(orderId) {
      say(result, "ok", `Paid. Thank you! <a id="order-link" href="/orders/${encodeURIComponent(orderId)}">See your order and its ship date</a>`);
      if (form) form.hidden = true;
      if (deadline) { over = true; deadline.textContent = "Paid."; }
    }

    let key = null; // one key per payment attempt; kept on a retry after a network failure
    if (form) form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      key = key || newKey();
      say(result, "wait", "Paying…");
      let res;
      try {
        res = await api("POST", `/api/v1/claims/${id}/payment`, { method: "test", token: form.card.value }, { "Idempotency-Key": key });
      } catch (_) {
        say(result, "wait", "We could not reach the shop. Press Pay again: it is safe, you will not be charged twice.");
        button.disabled = false;
        return;
      }
      const code = codeOf(res);
      if (res.status === 200) { key = null; paid(res.data.id); return; }
      if (res.status === 202) { key = null; say(result, "wait", "Your bank is confirming the payment. This page updates by itself."); pending(); return; }
      if (res.status === 402) { key = null; say(result, "bad", "Your bank declined the payment. The unit is still held for you: try another card."); button.disabled = false; return; }
      if (code === "claim_expired") { say(result, "bad", "Too late: the time to pay ran out and the unit went back on sale. Nothing was charged."); return; }
      if (code === "already_paid") { say(result, "ok", "This is already paid."); const r = await api("GET", `/api/v1/claims/${id}`); if (r.data && r.data.order_id) paid(r.data.order_id); return; }
      if (code === "payment_pending") { say(result, "wait", "A payment is already being confirmed. This page updates by itself."); pending(); return; }
      if (res.status === 401) { say(result, "bad", `Please <a href="/signin?next=/claims/${id}">sign in again</a>.`); return; }
      if (res.status >= 500) { say(result, "wait", "The payment could not be made; nothing was charged. Press Pay to try again."); button.disabled = false; return; }
      say(result, "bad", esc(messageOf(res) || "The payment did not work."));
      button.disabled = false;
    });
  }

  const launch = document.getElementById("launch");
  if (launch) launchPage(launch);
  const claim = document.getElementById("claim");
  if (claim) claimPage(claim);
})();
