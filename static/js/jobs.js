// A job's page: ask for its state every second, move the progress bar, and reload when it has ended.
// Without script the page refreshes itself (<meta refresh> in <noscript>).
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("kp-job");
  if (!box || !box.dataset.statusUrl) return;
  const bar = document.getElementById("kp-job-bar");
  const text = document.getElementById("kp-job-progress");
  const state = box.dataset.status;
  const poll = () => {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((s) => {
        if (!s) { setTimeout(poll, 3000); return; }
        if (s.status !== state) { window.location.reload(); return; }
        if (bar && s.percent !== null) {
          bar.style.width = s.percent + "%";
          bar.textContent = s.percent + "%";
          bar.classList.remove("progress-bar-striped", "progress-bar-animated");
          bar.parentElement.setAttribute("aria-valuenow", String(s.percent));
        }
        if (text) text.textContent = s.progress_text;
        setTimeout(poll, 1000);
      })
      .catch(() => setTimeout(poll, 3000));
  };
  setTimeout(poll, 1000);
});
