// soldout admin: small progressive enhancements; every form works without this file.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.fill) return;
  const target = document.getElementById(input.dataset.fill);
  const file = input.files && input.files[0];
  if (!target || !file) return;
  file.text().then((text) => { target.value = text; });
});

// -- products: rows added and removed in place, the description's live preview --------
// Without this file the form still works: "More rows" posts it back with blank rows, a
// "Remove" checkbox leaves a row out when saving, "Preview" posts it back with the preview.
(() => {
  const numbered = (root, index, n) => {
    for (const el of root.querySelectorAll("[name], [id], [for], [aria-label]")) {
      for (const attr of ["name", "id", "for", "aria-label"]) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replaceAll("__i__", index).replaceAll("__n__", n));
      }
    }
  };
  const removable = (row) => {
    const box = row.querySelector("input[data-remove]");
    if (!box) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = "Remove";
    button.setAttribute("aria-label", box.getAttribute("aria-label") || "Remove this row");
    button.addEventListener("click", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      const group = row.closest("[data-rows]");
      row.remove();
      const target = (next && next.querySelector("input:not([readonly])")) || (group && group.querySelector("[data-add-row]"));
      if (target) target.focus();
    });
    box.closest("label").replaceWith(button);
  };
  for (const group of document.querySelectorAll("[data-rows]")) {
    const body = group.querySelector("tbody");
    const template = group.querySelector("template");
    const add = group.querySelector("[data-add-row]");
    if (!body || !template || !add) continue;
    let next = Number(group.dataset.next || body.rows.length);
    for (const more of group.querySelectorAll(".nojs")) more.hidden = true;
    add.hidden = false;
    for (const row of body.rows) removable(row);
    add.addEventListener("click", () => {
      const row = template.content.firstElementChild.cloneNode(true);
      numbered(row, next, body.rows.length + 1);
      next += 1;
      const last = body.rows[body.rows.length - 1];
      const currency = row.querySelector("input.currency");
      const previous = last && last.querySelector("input.currency");
      if (currency && previous && previous.value) currency.value = previous.value;
      body.append(row);
      removable(row);
      row.querySelector("input").focus();
    });
  }
  const source = document.querySelector("textarea[data-preview]");
  const preview = source && document.getElementById(source.dataset.preview);
  if (source && preview && source.form) {  // (no form for a role that may only look)
    for (const button of source.form.querySelectorAll(".nojs")) button.hidden = true;
    const csrf = source.form.querySelector("input[name=csrf]").value;
    let timer = 0;
    let asked = 0;
    source.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const ask = ++asked;
        const body = new URLSearchParams({ csrf, description: source.value });
        try {
          const answer = await fetch("/admin/products/preview", { method: "POST", body, credentials: "same-origin" });
          // sanitised on the server (soldout.web.rich_text): safe to put in the page
          if (answer.ok && ask === asked) preview.innerHTML = await answer.text();
        } catch (error) { /* offline: the preview waits for the next keystroke */ }
      }, 300);
    });
  }
  const colour = document.querySelector("input[type=color][aria-describedby]");
  if (colour) {
    const code = document.getElementById(colour.getAttribute("aria-describedby"));
    colour.addEventListener("input", () => { code.textContent = colour.value; });
  }
  const invalid = document.querySelector("main [aria-invalid=true]");
  if (invalid) invalid.focus();
})();
