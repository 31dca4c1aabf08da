// The evidence upload form, enhanced: a title per chosen file and a progress bar while the files travel.
// Without this script the form posts normally and the server answers the same way.
(function () {
  "use strict";

  function fmtSize(bytes) {
    if (bytes >= 1024 * 1024) { return (bytes / (1024 * 1024)).toFixed(1) + " MB"; }
    if (bytes >= 1024) { return Math.round(bytes / 1024) + " kB"; }
    return bytes + " B";
  }

  function init() {
    const form = document.getElementById("kp-upload-form");
    if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
    const input = form.querySelector("input[type=file][name=files]");
    const list = document.getElementById("kp-file-list");
    const shared = document.getElementById("kp-shared-title");
    const progress = document.getElementById("kp-upload-progress");
    const bar = progress.querySelector(".progress-bar");
    const errorBox = document.getElementById("kp-upload-error");
    const maxBytes = parseInt(form.dataset.maxBytes || "0", 10);

    function showError(text) {
      errorBox.textContent = text;
      errorBox.classList.remove("d-none");
    }

    function setProgress(percent) {
      const p = Math.max(0, Math.min(100, Math.round(percent)));
      bar.style.width = p + "%";
      bar.textContent = p + "%";
      progress.setAttribute("aria-valuenow", String(p));
    }

    function enableButtons() {
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = false; });
    }

    // app.js disables the submit button on submit (in a timeout); undo it after that has run.
    function refuse(text) {
      showError(text);
      setTimeout(() => setTimeout(enableButtons, 0), 0);
    }

    // One title field per chosen file, prefilled with its name; the shared title is then not needed.
    input.addEventListener("change", () => {
      list.replaceChildren();
      errorBox.classList.add("d-none");
      const files = Array.from(input.files || []);
      files.forEach((file, n) => {
        const li = document.createElement("li");
        li.className = "kp-upload-file mb-2";
        const label = document.createElement("label");
        label.className = "form-label small mb-1 text-break";
        label.htmlFor = "kp-title-" + n;
        label.textContent = file.name + " · " + fmtSize(file.size);
        const title = document.createElement("input");
        title.className = "form-control form-control-sm";
        title.type = "text";
        title.name = "titles";
        title.id = "kp-title-" + n;
        title.maxLength = 300;
        title.value = file.name;
        title.setAttribute("aria-label", (form.dataset.labelTitle || "Title") + ": " + file.name);
        li.append(label, title);
        list.append(li);
      });
      if (shared) { shared.classList.toggle("d-none", files.length > 0); }
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      errorBox.classList.add("d-none");
      const files = Array.from(input.files || []);
      if (!files.length) { refuse(form.dataset.msgNoFile); return; }
      if (!form.querySelector("input[name=indicators]:checked")) { refuse(form.dataset.msgNoIndicator); return; }
      const total = files.reduce((sum, f) => sum + f.size, 0);
      if (maxBytes && total > maxBytes) { refuse(form.dataset.msgTooLarge); return; }

      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("Accept", "application/json");
      progress.classList.remove("d-none");
      setProgress(0);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) { setProgress((e.loaded / e.total) * 100); } };
      xhr.upload.onload = () => { setProgress(100); };
      xhr.onerror = () => { progress.classList.add("d-none"); showError(form.dataset.msgFailed); enableButtons(); };
      xhr.onload = () => {
        let data = null;
        if ((xhr.getResponseHeader("Content-Type") || "").indexOf("application/json") === 0) {
          try { data = JSON.parse(xhr.responseText); } catch (err) { data = null; }
        }
        if (data && data.redirect) { window.location.assign(data.redirect); return; }
        progress.classList.add("d-none");
        enableButtons();
        if (data && data.message) { showError(data.message); return; }
        if (xhr.status === 413) { showError(form.dataset.msgTooLarge); return; }
        // An error page (an expired form, say): show its headline.
        const doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
        const headline = doc.querySelector("main h1");
        showError(headline ? headline.textContent.trim() : form.dataset.msgFailed);
      };
      xhr.send(new FormData(form));
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
