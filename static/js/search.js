// Search as you type: suggestions under a search box marked `data-suggest` (the URL of the suggestions
// endpoint), fetched as an HTML fragment while someone types. The form around the box works the same
// without this script: Enter or the Search button sends it, and the server answers with the full list.
(() => {
  "use strict";
  const DELAY = 250; // ms after the last key press
  const MIN_CHARS = 2;

  function setUp(input) {
    const box = document.getElementById(input.getAttribute("aria-controls"));
    if (!box) return;
    const purpose = input.dataset.suggestFor || "register";
    const form = input.form;
    let timer = null;
    let pending = null;
    let lastQuery = null;

    function hide() {
      box.hidden = true;
      input.setAttribute("aria-expanded", "false");
    }

    function show(html) {
      box.innerHTML = html;
      box.hidden = !html.trim();
      input.setAttribute("aria-expanded", box.hidden ? "false" : "true");
    }

    function params() {
      const p = new URLSearchParams();
      p.set("q", input.value.trim());
      p.set("for", purpose);
      if (purpose === "register") {
        // The register's other filters narrow the suggestions just as they narrow the list.
        ["category", "status", "department", "lendable", "free_from", "free_to"].forEach((name) => {
          const el = form.elements[name];
          if (el && el.value) p.set(name, el.value);
        });
      } else {
        const freeOnly = form.elements.free_only;
        if (freeOnly && freeOnly.checked) {
          p.set("free_from", form.elements.start_on.value);
          p.set("free_to", form.elements.due_on.value);
        }
        form.querySelectorAll("input[name=assets]:checked").forEach((c) => p.append("exclude", c.value));
      }
      return p;
    }

    function fetchNow() {
      const q = input.value.trim();
      if (q.length < MIN_CHARS) {
        lastQuery = null;
        hide();
        return;
      }
      const query = params().toString();
      if (query === lastQuery) {
        if (box.innerHTML.trim()) { box.hidden = false; input.setAttribute("aria-expanded", "true"); }
        return;
      }
      lastQuery = query;
      if (pending) pending.abort();
      pending = new AbortController();
      fetch(input.dataset.suggest + "?" + query, {
        signal: pending.signal, credentials: "same-origin", headers: { "X-Requested-With": "fetch" },
      })
        .then((r) => (r.ok ? r.text() : ""))
        .then((html) => { if (query === lastQuery) show(html); })
        .catch(() => {}); // aborted by a newer key press, or offline: the form still works
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(fetchNow, DELAY);
    });
    input.addEventListener("focus", () => { if (input.value.trim().length >= MIN_CHARS) fetchNow(); });

    function items() { return Array.from(box.querySelectorAll(".kp-suggest-item")); }

    input.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" && !box.hidden) {
        const first = items()[0];
        if (first) { e.preventDefault(); first.focus(); }
      } else if (e.key === "Escape") {
        hide();
      }
    });
    box.addEventListener("keydown", (e) => {
      const list = items();
      const i = list.indexOf(document.activeElement);
      if (e.key === "ArrowDown" && i < list.length - 1) { e.preventDefault(); list[i + 1].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); (i > 0 ? list[i - 1] : input).focus(); }
      else if (e.key === "Escape") { hide(); input.focus(); }
    });
    document.addEventListener("click", (e) => {
      if (!box.contains(e.target) && e.target !== input) hide();
    });

    if (purpose === "loan") {
      // A suggestion pressed in the loan request joins the chosen items, ticked, as if found and ticked.
      box.addEventListener("click", (e) => {
        const button = e.target.closest("[data-add-asset]");
        if (!button) return;
        addChosen(form, button.dataset.addAsset, button.dataset.number, button.dataset.name);
        button.closest("li").remove();
        lastQuery = null;
        if (!items().length) hide();
        input.focus();
      });
    }
  }

  function addChosen(form, id, number, name) {
    const list = document.getElementById("kp-chosen");
    const existing = form.querySelector(`input[name=assets][value="${CSS.escape(id)}"]`);
    if (existing && (!list || list.contains(existing))) { existing.checked = true; return; }
    if (!list) return;
    // Listed in the catalogue below too: it moves up to the chosen items (one checkbox per item).
    if (existing) (existing.closest("li") || existing).remove();
    const li = document.createElement("li");
    li.className = "kp-chosen-item";
    li.dataset.asset = id;
    const check = document.createElement("div");
    check.className = "form-check";
    const box = document.createElement("input");
    Object.assign(box, { type: "checkbox", name: "assets", value: id, id: `a-${id}`, checked: true });
    box.className = "form-check-input";
    const label = document.createElement("label");
    label.className = "form-check-label";
    label.htmlFor = box.id;
    const num = document.createElement("span");
    num.className = "kp-number fw-semibold";
    num.textContent = number;
    label.append(num, " ", name);
    check.append(box, label);
    li.append(check);
    list.append(li);
    list.hidden = false;
    const none = document.getElementById("kp-none-chosen");
    if (none) none.hidden = true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("input[data-suggest]").forEach(setUp);
  });
})();
