// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // Submit buttons disable themselves after the first click, so a double click sends one request.
  document.querySelectorAll("form").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("button[type=submit]").forEach((b) => {
        setTimeout(() => { b.disabled = true; }, 0);
      });
    });
  });
  // Select-all checkbox on the register, for printing labels of a selection.
  const all = document.getElementById("kp-select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("input.kp-select").forEach((c) => { c.checked = all.checked; });
    });
  }
  // Filters submit on change.
  document.querySelectorAll("[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.submit());
  });
});
// Picking numbered assets for a request by count: a live count of the ticked boxes of each line.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-count-of]").forEach((out) => {
    const boxes = document.querySelectorAll(`input[name="${out.dataset.countOf}"]`);
    const show = () => { out.textContent = [...boxes].filter((b) => b.checked).length; };
    boxes.forEach((b) => b.addEventListener("change", show));
    show();
  });
});
