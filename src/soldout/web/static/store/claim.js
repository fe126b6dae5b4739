/* soldout's claim page: where to ship, then pay within the window. Loaded after
   store/core.js. */
"use strict";
(() => {
  const {
    t, esc, api, codeOf, messageOf, fieldOf, newKey, clock, syncFrom, duration, clockTime,
    say, sleep,
  } = window.soldout;

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

  const claim = document.getElementById("claim");
  if (claim) claimPage(claim);
})();
