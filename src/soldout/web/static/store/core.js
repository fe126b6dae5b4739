/* soldout storefront, on every page (loaded first; a page's own script follows it): the
   words, times in the fan's own zone, the API, the server's clock, sharing, the product's
   pictures and giving back (an order, a claim). Every call carries `X-Soldout-Web: 1` and
   the same-origin cookie; every answer is shown in words, in the page's language (texts
   marked t("...") in every script under static/store/ are translated by the server into
   the JSON in #store-text). What the page scripts use is on `window.soldout`. */
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

  window.soldout = Object.freeze({
    t, esc, api, codeOf, messageOf, fieldOf, newKey, clock, syncFrom, duration, money,
    clockTime, say, sleep, sharing,
  });
})();
