/* soldout's launch page: live counts, the countdown on the server's clock, reserve, the
   waiting room, proof of work, priority codes, buy. Loaded after store/core.js. */
"use strict";
(() => {
  const {
    t, esc, api, codeOf, messageOf, fieldOf, newKey, clock, syncFrom, duration, money,
    clockTime, say, sleep, sharing,
  } = window.soldout;

  const STATUS = {
    scheduled: t("Coming soon"), reservations_open: t("Reservations open"), on_sale: t("On sale now"),
    paused: t("Paused"), sold_out: t("Sold out"), closed: t("This round has closed"),
    cancelled: t("This launch was cancelled"),
  };

  // -- the launch page -------------------------------------------------------------
  function launchPage(root) {
    const id = root.dataset.launch;
    const $ = (sel) => root.querySelector(sel);
    const result = $("#result"), statusEl = $("#status"), countdown = $("#countdown");
    const progress = $("#progress"), room = $("#room"), roomText = $("#room-text");
    const buyForm = $("#buy-form"), buyButton = $("#buy"), reserveButton = $("#reserve");
    const codeInput = $("#priority-code");
    let view = null;
    let opens = Date.parse(root.dataset.opens);
    let closes = root.dataset.closes ? Date.parse(root.dataset.closes) : null;
    let status = root.dataset.status;
    let purchase = null; // {sku, code, key}: one intended purchase, the same key on every retry
    let admission = null; // the waiting room's admission token, in memory only
    let busy = false;
    sharing($("#share"), $("#share-url"), $("#share-note"));

    function sku() {
      const picked = buyForm.querySelector("input[name=sku]:checked");
      return picked ? picked.value : null;
    }
    const code = () => (codeInput ? codeInput.value.trim().toUpperCase() : "");

    const note = $("#status-note");
    function showStatus() {
      let s = status;
      if ((s === "scheduled" || s === "reservations_open") && clock.now() >= opens) s = "on_sale";
      statusEl.textContent = STATUS[s] || s;
      statusEl.className = "status status-" + s;
      if (s !== "scheduled" && s !== "reservations_open") {  // what was true until the opening
        for (const el of root.querySelectorAll("[data-until-open]")) el.hidden = true;
      }
      if (s === "closed" || s === "cancelled") {  // as a reload shows it: nothing to press
        for (const el of root.querySelectorAll("#buy-form .actions, #buy-form details.code")) el.hidden = true;
      }
      let big = "", small = "";
      if (s === "scheduled" || s === "reservations_open") {
        big = t("Opens in %(time)s", { time: duration(opens - clock.now()) });
      } else if (s === "on_sale" && closes) {
        big = t("Closes in %(time)s", { time: duration(closes - clock.now()) });
      } else if (s === "on_sale") {
        small = root.dataset.mode === "draw" ? t("Drawn") : t("Open now");
      } else if (s === "closed") {
        small = t("Closed. Watch this page for the next round.");
      } else if (s === "cancelled") {
        small = t("Nothing more is sold in this launch. Orders already paid for still stand.");
      } else if (s === "paused") {
        small = t("Paused by the maker: try again shortly.");
      } else if (s === "sold_out" && root.dataset.mode === "draw") {  // never on open sale
        small = t("Nothing is left to claim: this launch sells by draw, and a unit that comes back goes to the next fan on the backup list, if one is left.");
      } else if (s === "sold_out") {
        small = t("Every unit open to everyone is sold. Units may come back if a buyer does not pay.");
      }
      if (countdown.textContent !== big) countdown.textContent = big;
      countdown.hidden = !big;
      if (note && note.textContent !== small) note.textContent = small;
    }

    function render(v) {
      view = v;
      status = v.cancelled_at ? "cancelled" : v.status;
      opens = Date.parse(v.sale_opens_at);
      closes = v.sale_closes_at ? Date.parse(v.sale_closes_at) : null;
      for (const s of v.skus) {
        const row = root.querySelector(`tr[data-sku="${CSS.escape(s.code)}"]`);
        const left = root.querySelector(`[data-sku-left="${CSS.escape(s.code)}"]`);
        if (left) left.textContent = s.sold_out ? t("Sold out") : v.status === "closed" ? "" : t("%(count)s left", { count: s.available });
        if (!row) continue;
        row.querySelector(".batch").textContent = s.batch;
        row.querySelector(".available").textContent = s.sold_out ? t("Sold out") : s.available;
        row.querySelector(".set-aside").textContent = s.set_aside;
        row.querySelector(".held").textContent = s.held;
        row.querySelector(".sold").textContent = s.sold;
      }
      const n = v.reservations;
      $("#reservations").textContent = t("Reservations so far: %(count)s", { count: n });
      if (root.dataset.mode === "draw") {  // only a code buys, and only a unit set aside for one
        const offered = v.skus.some((s) => s.set_aside > 0);
        for (const el of root.querySelectorAll("#buy-form details.code, #buy")) el.hidden = !offered;
      }
      showStatus();  // (after: a closed launch offers nothing, codes or not)
    }

    // Where the fan stands (#you), as the server says it: fetched again while it may change
    // without the fan's doing here (`data-live`: a unit held, a backup's place, an order on
    // its way), or at once when the page is shown again (back from paying or giving back).
    const you = $("#you");
    let youLive = you ? you.dataset.live === "1" : false;
    let youShown = you ? you.innerHTML : "";  // (as served: showStatus hides parts of it)
    async function refreshYou() {
      try {
        const res = await fetch(`/launches/${encodeURIComponent(id)}/you`, { credentials: "same-origin", headers: { "X-Soldout-Web": "1" } });
        if (res.status !== 200) return;  // (signed out meanwhile: the next reload says so)
        const fresh = new DOMParser().parseFromString(await res.text(), "text/html").getElementById("you");
        if (!fresh) return;
        youLive = fresh.dataset.live === "1";
        root.dataset.heldClaim = fresh.dataset.heldClaim || "";
        if (fresh.innerHTML === youShown) return;
        youShown = fresh.innerHTML;
        you.innerHTML = youShown;
        showStatus();
      } catch (_) { /* keep what it says; try again on the next beat */ }
    }

    let pollTimer = null;
    let youStale = false;  // the page was away: #you is fetched on the next poll, live or not
    async function poll() {
      clearTimeout(pollTimer);
      try {
        const sent = Date.now();
        const res = await api("GET", `/api/v1/launches/${id}`);
        syncFrom(res.data && res.data.server_time, sent, Date.now());
        if (res.status === 200) render(res.data);
      } catch (_) { /* keep the last counts; try again on the next beat */ }
      if (you && (youLive || youStale)) { youStale = false; await refreshYou(); }
      const toOpen = opens - clock.now();
      const soon = toOpen > 0 && toOpen < 15000;
      clearTimeout(pollTimer);  // (one beat, whichever of two polls in flight ends last)
      pollTimer = setTimeout(poll, document.hidden ? 15000 : soon ? Math.min(2000, toOpen + 150) : 5000);
    }
    showStatus(); // at once: the server's text names the hour, the page counts down
    // Back to the page from another one or another tab (the unit given back or paid there):
    // what it says is asked for at once, not at the next beat.
    window.addEventListener("pageshow", (e) => { if (e.persisted) { youStale = true; poll(); } });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) { youStale = true; poll(); } });
    let wasBefore = clock.now() < opens;
    setInterval(() => {
      showStatus();
      const before = clock.now() < opens;
      if (wasBefore && !before) {
        poll(); // opening: fetch the real state at once
        // a draw's result: each signed-in fan reloads at a moment of their own (2-15 s),
        // not the whole crowd in the same second
        if (root.dataset.mode === "draw" && root.dataset.signedIn === "1") setTimeout(() => location.reload(), 2000 + Math.random() * 13000);
      }
      wasBefore = before;
    }, 250);
    poll();

    // reserve
    if (reserveButton) reserveButton.addEventListener("click", async () => {
      reserveButton.disabled = true;
      try {  // the model picked goes with every reservation: the maker's demand counts it
        const res = await api("POST", `/api/v1/launches/${id}/reservations`, { sku: sku() });
        if (res.status === 201 || res.status === 200) {
          reserveButton.textContent = root.dataset.mode === "draw" ? t("Entered") : t("Reserved");
          say(result, "ok", esc(root.dataset.mode === "draw"
            ? t("You are in the draw. At opening you will see here (and by e-mail) whether you won.")
            : t("Reserved. We remind you by e-mail before the sale opens.")));
          poll();
          return;
        }
        say(result, "bad", esc(reserveProblem(res)));
      } catch (_) {
        say(result, "wait", esc(t("We could not reach the shop. Please try again.")));
      }
      reserveButton.disabled = false;
    });

    function reserveProblem(res) {
      const c = codeOf(res);
      if (res.status === 401) return t("Please sign in again.");
      if (c === "reservations_not_open") return t("Reservations are not open yet.");
      if (c === "reservations_closed") return t("Reservations for this launch are closed.");
      if (c === "account_too_new") return t("This launch is for fans who joined before a set date.");
      if (c === "closed") return t("This round has closed.");
      return messageOf(res) || t("That did not work. Please try again.");
    }

    // before the opening, places are not drawn yet: `ahead` is how many are expected ahead
    function earlyPlace(ahead) {
      if (ahead === 0) return t("You are among the first in the queue (places are shuffled at opening).");
      if (ahead === 1) return t("About one fan is ahead of you (places are shuffled at opening).");
      return t("About %(count)s fans are ahead of you (places are shuffled at opening).", { count: ahead });
    }

    // waiting room: join, then poll at the pace the server asks for
    async function admitted() {
      if (admission) return admission;
      room.hidden = false;
      say(result, "", "");  // (the room says what happens now)
      let res = await api("POST", `/api/v1/launches/${id}/waiting-room`);
      for (;;) {
        if (res.status !== 200) {
          roomText.textContent = res.status === 401 ? t("Please sign in again.") : messageOf(res) || t("The waiting room is not available.");
          return null;
        }
        const r = res.data;
        if (r.state === "admitted" && r.admission_token) {
          admission = r.admission_token;
          roomText.textContent = t("It is your turn.");
          return admission;
        }
        const where = r.position !== null
          ? t("You are number %(position)s in the queue.", { position: r.position })
          : earlyPlace(r.ahead);
        const wait = r.estimated_wait_seconds > 0 ? " " + t("Estimated wait: %(time)s.", { time: duration(r.estimated_wait_seconds * 1000) }) : "";
        const queued = r.position !== null
          ? t("You are in the queue; we will let you in shortly.")
          : t("You are in the queue; we let fans in, in turn, once the sale opens.");
        roomText.textContent = queued + " " + where + wait + " " + t("Keep this page open.");
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
        progress.textContent = t("Checking you are not a bot…");
        return new Promise((resolve, reject) => {
          const worker = new Worker("/static/store-pow.js");
          const expected = 2 ** difficulty;
          worker.onmessage = (e) => {
            if (e.data.done) {
              worker.terminate();
              progress.textContent = t("Checked: you are not a bot.");
              resolve(`${token}:${e.data.nonce}`);
            } else {
              const pct = Math.min(99, Math.round((100 * e.data.tries) / (expected * 3)));
              progress.textContent = t("Checking you are not a bot… %(percent)s %%", { percent: pct });
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
      const picked = sku();
      const priority = code();
      if (!picked) { say(result, "bad", esc(t("Choose a model first."))); return; }
      if (buyButton.dataset.codeOnly === "1" && !priority) {
        say(result, "bad", esc(t("This launch is a draw: enter it with the button above. A priority code buys outside the draw.")));
        return;
      }
      busy = true;
      buyButton.disabled = true;
      const store = `soldout:key:${id}:${picked}:${priority}`;
      if (!purchase || purchase.sku !== picked || purchase.code !== priority) {
        purchase = { sku: picked, code: priority, key: sessionStorage.getItem(store) || newKey() };
        sessionStorage.setItem(store, purchase.key);
      }
      say(result, "wait", esc(t("Asking the shop…")));
      try {
        const headers = { "Idempotency-Key": purchase.key };
        const body = { sku: picked };
        if (priority) body.priority_code = priority; // a code buys outside the race
        else {
          if (root.dataset.room === "1") {
            const token = await admitted();
            if (!token) { say(result, "bad", esc(t("You need to wait your turn in the waiting room."))); return; }
            headers["Admission-Token"] = token;
          }
          if (Number(root.dataset.pow) > 0) headers["Proof-Of-Work"] = await proofOfWork();
        }
        const res = await api("POST", `/api/v1/launches/${id}/claims`, body, headers);
        claimed(res, store);
      } catch (error) {
        if (error && error.res) {
          say(result, "bad", esc(messageOf(error.res) || t("The bot check could not start. Please try again.")));
        } else {
          say(result, "wait", esc(t("We could not reach the shop. Press Buy again: it is safe, a retry never buys twice.")));
        }
      } finally {
        busy = false;
        buyButton.disabled = false;
      }
    });

    function heldLink() {
      const claim = root.dataset.heldClaim;
      return claim ? `/claims/${encodeURIComponent(claim)}` : "/me#waiting";
    }

    function claimed(res, store) {
      const c0 = codeOf(res);
      if (res.status === 201 || res.status === 200) {
        const c = res.data;
        purchase = null;
        admission = null;
        sessionStorage.removeItem(store);
        root.dataset.heldClaim = c.id;
        say(result, "ok", esc(t("You got one! It is held for you until %(time)s: %(amount)s to pay.", { time: clockTime(c.expires_at), amount: money(c.total, c.currency) })) +
          ` <a id="claim-link" class="button primary" href="/claims/${encodeURIComponent(c.id)}">${esc(t("Pay now"))}</a>`);
        poll();
        return;
      }
      if (c0.startsWith("admission")) admission = null;
      const limit = view ? view.per_fan_limit : Number(root.dataset.limit || 1);
      const words = {
        sold_out: ["bad", esc(t("Sold out: every unit open to everyone has been sold. Units come back if a buyer does not pay in time."))],
        insufficient_stock: ["bad", esc(t("Not enough left for that many."))],
        not_open: ["wait", esc(t("Not open yet. Wait for the countdown to reach zero, then press Buy."))],
        closed: ["bad", esc(status === "cancelled" ? t("This launch was cancelled.") : t("This round has closed. Watch this page for the next round."))],
        limit_reached: ["bad", esc(t("You have reached the limit for this launch (%(limit)s per fan).", { limit })) +
          ` <a id="held-link" href="${heldLink()}">${esc(t("Pay for what you hold"))}</a> · <a href="/me#orders">${esc(t("See your orders"))}</a>`],
        paused: ["wait", esc(t("The sale is paused for a moment. Press Buy again shortly."))],
        reservation_required: ["bad", esc(t("Only fans who reserved can buy in this launch."))],
        draw_only: ["bad", esc(t("This launch is a draw: enter it with the button above. A priority code buys outside the draw."))],
        duplicate_buyer: ["bad", esc(t("Several accounts share one address or phone, so this purchase is held back."))],
        admission_required: ["wait", esc(t("You need your turn in the waiting room. Press Buy to join it."))],
        admission_expired: ["wait", esc(t("Your turn in the waiting room ran out. Press Buy to join again."))],
        admission_invalid: ["wait", esc(t("Your waiting-room pass did not work. Press Buy to join again."))],
        pow_invalid: ["wait", esc(t("The bot check did not pass. Press Buy to try again."))],
        pow_expired: ["wait", esc(t("The bot check took too long. Press Buy to try again."))],
        pow_reused: ["wait", esc(t("The bot check was already used. Press Buy to try again."))],
        pow_required: ["wait", esc(t("A bot check is needed. Press Buy to try again."))],
        account_too_new: ["bad", esc(t("This launch is for fans who joined before a set date."))],
        invalid_code: ["bad", esc(t("We do not know this priority code for this launch. Check it and try again."))],
        code_spent: ["bad", esc(t("This priority code was already used."))],
        code_expired: ["bad", esc(t("This priority code has expired."))],
      };
      // a code for another model; in a draw, an any-model code buys only its own unit
      const otherModel = c0 === "code_for_other_sku" || (c0 === "draw_only" && fieldOf(res) === "sku");
      if (words[c0] && !otherModel) { say(result, words[c0][0], words[c0][1]); return; }
      if (otherModel) {  // named as the page names it (the answer has its code)
        const other = (messageOf(res).match(/'([^']+)'/) || [])[1] || "";
        const named = other && root.querySelector(`tr[data-sku="${CSS.escape(other)}"] th`);
        const sku = named ? named.textContent : other;
        // an any-model code in a draw is not "for another model": only its unit is left to it
        say(result, "bad", esc(c0 === "draw_only"
          ? t("In this draw, your priority code buys only the unit set aside for it: %(sku)s. Choose that one and press Buy again.", { sku })
          : t("This priority code is for another model: %(sku)s. Choose that one and press Buy again.", { sku })));
        return;
      }
      if (fieldOf(res) === "priority_code" || (codeInput && codeInput.value && fieldOf(res) === "sku")) {
        say(result, "bad", esc(messageOf(res))); return;
      }
      if (res.status === 401) { say(result, "bad", `<a href="/signin?next=/launches/${id}">${esc(t("Please sign in again."))}</a>`); return; }
      if (res.status === 429) {
        const after = res.headers.get("retry-after") || "1";
        say(result, "wait", esc(t("Too many tries at once. Wait %(seconds)s s, then press Buy again.", { seconds: after })));
        return;
      }
      if (c0 === "idempotency_key_reused") { purchase = null; sessionStorage.removeItem(store); }
      if (res.status >= 500 || res.status === 0) {
        say(result, "wait", esc(t("Something went wrong on our side and nothing was bought by this try. Press Buy again: it is safe, a retry never buys twice.")));
        return;
      }
      say(result, "bad", esc(messageOf(res) || t("That did not work. Please try again.")));
    }
  }

  const launch = document.getElementById("launch");
  if (launch) launchPage(launch);
})();
