// The public e-service: small enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // The fields of a group or an agency show only when that kind is chosen.
  const kinds = document.querySelectorAll("input[name=kind]");
  const sync = () => {
    const chosen = document.querySelector("input[name=kind]:checked");
    const kind = chosen ? chosen.value : "person";
    document.querySelectorAll("[data-es-kind]").forEach((el) => {
      el.hidden = !el.dataset.esKind.split(" ").includes(kind);
    });
  };
  kinds.forEach((k) => k.addEventListener("change", sync));
  if (kinds.length) sync();
  // The return day is never before the first day.
  const start = document.querySelector("input[data-es-start]");
  const end = document.querySelector("input[data-es-end]");
  if (start && end) {
    start.addEventListener("change", () => {
      if (start.value) {
        end.min = start.value;
        if (!end.value || end.value < start.value) end.value = start.value;
      }
    });
  }
});
