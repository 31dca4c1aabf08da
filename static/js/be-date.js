// Date pickers: the browser's own <input type=date> holds an ISO day; the line under it shows that day in
// the Buddhist Era, in the page's language, as the person picks. The server renders the same line, so the
// page reads right without script too.
(() => {
  const TH = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."];
  const EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const thai = (document.documentElement.lang || "th") === "th";

  function shown(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
    if (!m) return "";
    const year = Number(m[1]) + 543, month = Number(m[2]), day = Number(m[3]);
    if (month < 1 || month > 12 || day < 1 || day > 31) return "";
    return thai ? `${day} ${TH[month - 1]} ${year}` : `${day} ${EN[month - 1]} ${year} BE`;
  }

  function enhance(input) {
    let line = document.getElementById(`${input.id}-be`);
    if (!line) {
      line = document.createElement("div");
      line.className = "form-text kp-be-date";
      line.id = `${input.id}-be`;
      line.setAttribute("aria-live", "polite");
      input.insertAdjacentElement("afterend", line);
    }
    const update = () => { line.textContent = shown(input.value); };
    input.addEventListener("input", update);
    input.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("input[type=date][data-kp-be-date]").forEach(enhance);
  });
})();
