// aitrack dashboard: live refresh, filter URLs, JSON forms for the few writes, toasts.
(function () {
  "use strict";
  const body = document.body;
  const poll = Math.max(0.5, parseFloat(body.dataset.poll || "5")) * 1000;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const live = document.getElementById("live");
  let lastRefresh = Date.now();
  let busy = false;

  function toast(message, error) {
    const box = document.getElementById("toast");
    if (!box) return;
    const item = document.createElement("div");
    item.textContent = message;
    if (error) item.className = "error";
    box.appendChild(item);
    setTimeout(() => item.remove(), error ? 7000 : 3000);
  }

  function content() {
    return document.getElementById("content");
  }

  function typing() {
    const el = document.activeElement;
    const c = content();
    return el && c && c.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  function refresh() {
    if (busy || typing() || !window.htmx) return Promise.resolve();
    busy = true;
    live?.classList.add("updating");
    return htmx
      .ajax("GET", location.pathname + location.search, { target: "#content", swap: "outerHTML" })
      .finally(() => {
        busy = false;
        lastRefresh = Date.now();
        setTimeout(() => live?.classList.remove("updating"), 800);
      });
  }

  async function check() {
    try {
      const r = await fetch("/api/v1/live", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) throw new Error(String(r.status));
      const data = await r.json();
      live?.classList.remove("stale");
      const shown = content()?.dataset.marker;
      if ((shown && data.marker !== shown) || Date.now() - lastRefresh > 60000) await refresh();
    } catch (e) {
      live?.classList.add("stale");
    }
  }
  setInterval(check, poll);

  // Keep nav links on the current filters (but not a page's own sorting or paging).
  function syncNav() {
    const params = new URLSearchParams(location.search);
    for (const k of ["page", "sort", "order", "per_page"]) params.delete(k);
    for (const [k, v] of [...params.entries()]) if (!v) params.delete(k);
    const q = params.toString();
    document.querySelectorAll(".topbar nav a").forEach((a) => {
      a.href = a.pathname + (q ? "?" + q : "");
    });
  }

  document.addEventListener("htmx:configRequest", (evt) => {
    // drop empty filter fields so URLs stay short
    const p = evt.detail.parameters;
    try {
      for (const k of Object.keys(p)) if (p[k] === "") delete p[k];
    } catch (e) { /* older htmx: keep them */ }
  });
  document.addEventListener("htmx:afterSettle", () => {
    syncNav();
    lastRefresh = Date.now();
  });
  document.addEventListener("htmx:responseError", (evt) => {
    let message = "the request failed (" + evt.detail.xhr.status + ")";
    try {
      message = JSON.parse(evt.detail.xhr.responseText).error.message;
    } catch (e) { /* not JSON */ }
    toast(message, true);
  });

  // Forms that write: JSON body, CSRF header, then refresh the page's content.
  document.addEventListener("submit", async (evt) => {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-api-form")) return;
    evt.preventDefault();
    const data = {};
    for (const [k, v] of new FormData(form).entries()) {
      if (v === "") continue;
      const input = form.elements[k];
      data[k] = input && input.type === "number" ? Number(v) : v;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    try {
      const r = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(data),
      });
      const answer = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(answer.error?.message || "the request failed (" + r.status + ")");
      form.reset();
      toast(form.dataset.done || "Saved");
      await refresh();
    } catch (e) {
      toast(e.message, true);
    }
  });

  syncNav();
})();
