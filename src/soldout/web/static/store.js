/* soldout storefront: live counts, countdown on the server's clock, times in the fan's own
   zone, reserve, waiting room, proof of work, priority codes, buy, the shipping address,
   pay, cancel, share. Every call carries `X-Soldout-Web: 1` and the same-origin cookie;
   every answer is shown in words, in the page's language (texts marked t("...") are
   translated by the server into the JSON in #store-text). */
"use strict";
(() => {
  // -- words -------------------------------------------------------------------------
  const TEXT = (() => {
    const el = document.getElementById("store-text");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (_) { return {}; }
  })();
  // Python-format placeholders, as in the catalogues: "%(name)s", and "%%" for "%".
  const t = (text, vars) => (TEXT[text] || text)
    .replace(/%\((\w+)\)s/g, (_, k) => (vars && k in vars ? vars[k] : ""))
    .replace(/%%/g, "%");
  const LANG = document.documentElement.lang || "en";
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  // -- the fan's own time zone -------------------------------------------------------
  const ZONE = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (_) { return "UTC"; } })();
  if (!document.cookie.split("; ").includes(`soldout_tz=${ZONE}`)) {
    document.cookie = `soldout_tz=${ZONE}; path=/; max-age=${90 * 86400}; samesite=lax`;  // (a zone's name is cookie-safe: A-Z 0-9 _ + - /)
  }
  // As the server writes them (i18n.Speaker.moment): "Tue, Jan 1, 2030, 13:00 (Central
  // European Time)", a 24-hour clock and the zone's name. The name is the server's (the
  // page's, or asked for on a visit's first page): the browser's own differs ("China
  // Standard Time" where the pages and e-mails say "China Time").
  const zoneNote = document.getElementById("zone-note");
  let shopZoneName = zoneNote && zoneNote.dataset.zone === ZONE ? zoneNote.dataset.zoneName : "";
  function zoneName(d) {
    if (shopZoneName) return shopZoneName;
    if (ZONE === "UTC" || ZONE === "Etc/UTC") return "UTC";
    for (const style of ["longGeneric", "long"]) {
      try {
        const part = new Intl.DateTimeFormat(LANG, { timeZoneName: style }).formatToParts(d).find((p) => p.type === "timeZoneName");
        if (part) return part.value;
      } catch (_) { /* an older browser: the next style */ }
    }
    return ZONE;
  }
  function clock24(d) {
    return new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d);
  }
  function when(iso) {
    const d = new Date(Date.parse(iso));
    try {
      const day = new Intl.DateTimeFormat(LANG, { weekday: "short", year: "numeric", month: "short", day: "numeric" }).format(d);
      return `${day}, ${clock24(d)} (${zoneName(d)})`;
    } catch (_) { return d.toISOString().slice(0, 16).replace("T", " ") + " (UTC)"; }
  }
  function clockTime(iso) {
    const d = new Date(Date.parse(iso));
    try { return `${clock24(d)} ${zoneName(d)}`; }  // (inside a sentence: no brackets)
    catch (_) { return d.toISOString().slice(11, 16) + " UTC"; }
  }
  // Times rendered before the server knew the zone: show them in the browser's, named
  // as the server names it (the browser's name if the server does not know the zone).
  async function showTimesInTheBrowsersZone() {
    let note = t("Times are shown in your time zone (%(zone)s).", { zone: ZONE });
    try {
      const res = await fetch(`/time-zone?zone=${encodeURIComponent(ZONE)}&lang=${encodeURIComponent(LANG)}`);
      if (res.ok) ({ name: shopZoneName, note } = await res.json());
    } catch (_) { /* offline: the browser's name */ }
    for (const el of document.querySelectorAll("time[data-when]")) el.textContent = when(el.dataset.when);
    zoneNote.textContent = note;
    zoneNote.dataset.zone = ZONE;
  }
  if (zoneNote && zoneNote.dataset.zone !== ZONE) showTimesInTheBrowsersZone();

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
  const fieldOf = (res) => (res.data && res.data.error ? res.data.error.field || "" : "");

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
    return (d ? t("%(days)s d", { days: d }) + " " : "") + `${two(h)}:${two(m)}:${two(s)}`;
  }

  function money(amount, currency) {
    const f = new Intl.NumberFormat(LANG, { style: "currency", currency });
    return f.format(amount / 10 ** f.resolvedOptions().maximumFractionDigits);
  }

  function say(el, kind, html) {
    el.className = "result " + kind;
    el.innerHTML = html;
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  const STATUS = {
    scheduled: t("Coming soon"), reservations_open: t("Reservations open"), on_sale: t("On sale now"),
    paused: t("Paused"), sold_out: t("Sold out"), closed: t("This round has closed"),
    cancelled: t("This launch was cancelled"),
  };

  // -- sharing: the phone's share sheet, else copy the link ---------------------------
  function sharing(button, input, note) {
    if (!button) return;
    button.addEventListener("click", async () => {
      const url = button.dataset.url;
      if (navigator.share && /Mobi|Android|iPhone|iPad/.test(navigator.userAgent)) {
        try { await navigator.share({ title: button.dataset.title, url }); return; } catch (_) { /* closed: fall back */ }
      }
      try {
        await navigator.clipboard.writeText(url);
        note.textContent = t("Link copied: paste it anywhere.");
      } catch (_) {
        input.focus(); input.select();
        note.textContent = t("Copy the link above.");
      }
    });
  }

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
        say(result, "bad", esc(t("This priority code is for another model: %(sku)s. Choose that one and press Buy again.", { sku: named ? named.textContent : other })));
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

  // -- the claim page: where to ship, then pay within the window ------------------------
  const ADDRESS = ["name", "line1", "line2", "postal_code", "city", "region", "country", "phone"];
  const ADDRESS_WORDS = {
    name: () => t("Please enter the name the parcel is addressed to."),
    line1: () => t("Please enter the street and number."),
    city: () => t("Please enter the city."),
    country: () => t("Please choose the country."),
    region: () => t("Please enter the state or province: couriers need it in this country."),
    postal_code: () => t("This postal code does not look right for the country chosen."),
    phone: () => t("Please enter a phone number the courier can call (with the country code if it is not in the country chosen)."),
  };

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
        expired();
      } else {
        deadline.textContent = t("Time left to pay: %(left)s (until %(time)s).", { left: duration(left), time: clockTime(root.dataset.expires) });
      }
    }, 250);

    async function pending() {
      const giveBackPanel = root.querySelector("#give-back");
      if (giveBackPanel) giveBackPanel.hidden = true;  // (money may be on its way)
      for (let i = 0; i < 60; i++) {
        await sleep(2000);
        let res;
        try { res = await api("GET", `/api/v1/claims/${id}`); } catch (_) { continue; }
        if (res.status !== 200) continue;
        const c = res.data;
        if (c.order_id) { paid(c.order_id); return; }
        const state = c.payment && c.payment.state;
        if (state === "declined" || state === "failed") {
          say(result, "bad", esc(t("Your bank declined the payment. The unit is still held for you: try another card.")));
          form.querySelector("#pay").disabled = false;
          if (giveBackPanel) giveBackPanel.hidden = false;
          return;
        }
        if (c.state === "expired") { expired(); say(result, "bad", esc(t("The time to pay ran out."))); return; }
      }
      say(result, "wait", esc(t("Your bank has still not answered. Reload this page later to see the outcome.")));
    }

    // The claim is held no more: the page says its state and asks for nothing (nor
    // titles a step "Pay" that is over).
    function ended(state) {
      if (form) form.hidden = true;
      const payHeading = root.querySelector("#h-pay");
      if (payHeading) payHeading.hidden = true;
      const giveBackPanel = root.querySelector("#give-back");
      if (giveBackPanel) giveBackPanel.hidden = true;
      for (const line of root.querySelectorAll(".ship-estimate")) line.hidden = true;
      const said = root.querySelector("#claim-state");
      if (said) said.textContent = state;
    }

    // The time to pay ran out, seen by the countdown or told by the shop: said once.
    function expired() {
      if (over) return;
      over = true;
      ended(t("Expired: the time to pay ran out"));
      const heading = root.querySelector("h1");
      if (heading) heading.textContent = t("The time to pay for %(sku)s ran out", { sku: root.dataset.sku });
      if (!deadline) return;
      deadline.textContent = t("The time to pay has run out; the unit went back on sale.");
      deadline.insertAdjacentHTML("afterend", `<p><a id="back-to-launch" class="button" href="/launches/${encodeURIComponent(root.dataset.launch)}">${esc(t("Back to the launch"))}</a></p>`);
    }

    function paid(orderId) {
      say(result, "ok", esc(t("Paid. Thank you!")) + ` <a id="order-link" class="button primary" href="/orders/${encodeURIComponent(orderId)}">${esc(t("See your order and its ship date"))}</a>`);
      ended(t("Paid"));
      over = true;
      const payStep = root.querySelector("#pay-step");
      if (payStep) payStep.hidden = true;  // the status says Paid; the result leads to the order
    }

    // The address the form asks for: none on file, or "ship somewhere else" opened.
    function addressAsked() {
      const other = form.querySelector("#change-address");
      if (!form.querySelector("#a-line1")) return null;
      if (other && !other.open) return null;
      const value = {};
      for (const name of ADDRESS) value[name] = form.querySelector(`[name=${name}]`).value;
      return value;
    }
    function markAddress(field) {
      for (const name of ADDRESS) {
        const input = form.querySelector(`[name=${name}]`);
        if (!input) continue;
        if (name === field) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", "result"); input.focus(); }
        else { input.removeAttribute("aria-invalid"); input.removeAttribute("aria-describedby"); }
      }
    }

    if (root.dataset.attempt === "pending") pending(); // back from a provider's page, not decided yet

    let key = null; // one key per payment attempt; kept on a retry after a network failure
    if (form) form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("#pay");
      button.disabled = true;
      const address = addressAsked();
      if (address) {
        say(result, "wait", esc(t("Saving the address…")));
        let res;
        try { res = await api("PUT", "/api/v1/me/shipping", address); } catch (_) {
          say(result, "wait", esc(t("We could not reach the shop. Please try again.")));
          button.disabled = false;
          return;
        }
        if (res.status !== 200) {
          const field = fieldOf(res).replace(/^shipping\./, "");
          markAddress(field);
          say(result, "bad", esc((ADDRESS_WORDS[field] || (() => messageOf(res)))() || t("Please check the address.")));
          button.disabled = false;
          return;
        }
        markAddress(null);
      }
      key = key || newKey();
      say(result, "wait", esc(t("Paying…")));
      let res;
      try {
        const method = form.querySelector("[name=method]:checked, input[type=hidden][name=method]").value;
        res = await api("POST", `/api/v1/claims/${id}/payment`, { method, token: form.card ? form.card.value : "" }, { "Idempotency-Key": key });
      } catch (_) {
        say(result, "wait", esc(t("We could not reach the shop. Press Pay again: it is safe, you will not be charged twice.")));
        button.disabled = false;
        return;
      }
      const c = codeOf(res);
      if (res.status === 200) { key = null; paid(res.data.id); return; }
      if (res.status === 202 && res.data.redirect_url) {
        // A hosted provider: the fan pays on its page, which sends them back here.
        say(result, "wait", esc(t("Taking you to the secure payment page…")));
        window.location.assign(res.data.redirect_url);
        return;
      }
      if (res.status === 202) { key = null; say(result, "wait", esc(t("Your bank is confirming the payment. This page updates by itself."))); pending(); return; }
      if (res.status === 402) { key = null; say(result, "bad", esc(t("Your bank declined the payment. The unit is still held for you: try another card."))); button.disabled = false; return; }
      if (c === "claim_expired") { expired(); say(result, "bad", esc(t("Too late: the time to pay ran out and the unit went back on sale. Nothing was charged."))); return; }
      if (c === "already_paid") { say(result, "ok", esc(t("This is already paid."))); const r = await api("GET", `/api/v1/claims/${id}`); if (r.data && r.data.order_id) paid(r.data.order_id); return; }
      if (c === "payment_pending") { say(result, "wait", esc(t("A payment is already being confirmed. This page updates by itself."))); pending(); return; }
      if (res.status === 401) { say(result, "bad", `<a href="/signin?next=/claims/${id}">${esc(t("Please sign in again."))}</a>`); return; }
      if (res.status >= 500) { say(result, "wait", esc(t("The payment could not be made; nothing was charged. Press Pay to try again."))); button.disabled = false; return; }
      say(result, "bad", esc(messageOf(res) || t("The payment did not work.")));
      button.disabled = false;
    });
  }

  // -- giving back, in two steps: an order before it ships, a claim before it is paid ------
  function twoStep(button, confirm, warning, call, refusal) {
    const result = document.getElementById("result");
    let armed = false;
    button.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        button.textContent = confirm;
        button.classList.add("danger-button");
        say(result, "wait", esc(warning));
        return;
      }
      button.disabled = true;
      let res;
      try { res = await call(); } catch (_) {
        say(result, "wait", esc(t("We could not reach the shop. Please try again.")));
        button.disabled = false;
        return;
      }
      if (res.status === 200) { location.reload(); return; }
      say(result, "bad", esc(refusal(codeOf(res)) || messageOf(res) || t("That did not work. Please try again.")));
      button.disabled = false;
    });
  }

  // -- the product's pictures: a thumbnail shows its picture in the hero ------------------
  const heroImage = document.getElementById("hero-image");
  for (const button of document.querySelectorAll(".thumb-button")) {
    button.addEventListener("click", () => {
      heroImage.src = button.dataset.src;
      heroImage.srcset = button.dataset.srcset;
      for (const other of document.querySelectorAll(".thumb-button")) other.setAttribute("aria-pressed", String(other === button));
    });
  }

  const launch = document.getElementById("launch");
  if (launch) launchPage(launch);
  const claim = document.getElementById("claim");
  if (claim) claimPage(claim);
  const cancel = document.getElementById("cancel-order");
  // (a drawn unit goes down the backup list, or to nobody: the panel says which)
  const onSale = (button) => ["on_sale", "on_sale_when_resumed"].includes(button.dataset.unitGoes);
  if (cancel) {
    twoStep(cancel, t("Yes, cancel it and refund me"),
      onSale(cancel) ? t("Press again to confirm. The unit goes back on sale for another fan.") : t("Press again to confirm."),
      () => api("POST", `/api/v1/orders/${encodeURIComponent(cancel.dataset.order)}/cancel`),
      (code) => (code === "already_shipped" ? t("It has shipped already: ask the maker for a refund.") : ""));
  }
  const giveBack = document.getElementById("release-claim");
  if (giveBack) {
    twoStep(giveBack, t("Yes, give it back"),
      onSale(giveBack) ? t("Press again to confirm. The unit goes back on sale for another fan; nothing is charged.") : t("Press again to confirm. Nothing is charged."),
      () => api("DELETE", `/api/v1/claims/${encodeURIComponent(giveBack.dataset.claim)}`),
      (code) => (code === "already_paid" ? t("It is paid already: reload the page to see your order.") : ""));
  }
})();
