// The round page polls its progress every 5 seconds while the round is open.
(function () {
  const box = document.getElementById("kp-progress");
  if (!box || !window.fetch) return;
  const url = box.dataset.url;
  function render(p) {
    document.getElementById("kp-scanned").textContent = p.scanned;
    document.getElementById("kp-total").textContent = p.total;
    document.getElementById("kp-bar").style.width = (p.total ? (p.scanned * 100 / p.total) : 0) + "%";
    const body = document.getElementById("kp-by-location");
    body.replaceChildren(...p.by_location.map((row) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      a.textContent = row.location || "–";
      const b = document.createElement("td");
      b.className = "text-end kp-number";
      b.textContent = row.scanned + " / " + row.total;
      tr.append(a, b);
      return tr;
    }));
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((p) => { if (p) render(p); })
      .catch(() => {});
  }
  setInterval(poll, 5000);
})();
