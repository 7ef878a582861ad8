// flowtrac-sync planners' page: a little plain JavaScript, no build step.
// Everything here only improves forms the server already checks (size, CSRF, apply once).
"use strict";

function setupDropzone() {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file");
  const info = document.getElementById("file-info");
  const submit = document.getElementById("upload-submit");
  if (!zone || !input) return;
  const maxBytes = Number(zone.dataset.maxBytes || 0);

  function show() {
    const file = input.files && input.files[0];
    info.classList.remove("bad");
    submit.disabled = false;
    if (!file) { info.textContent = ""; return; }
    const size = file.size < 1048576 ? Math.max(1, Math.round(file.size / 1024)) + " KB"
                                     : (file.size / 1048576).toFixed(1) + " MB";
    if (maxBytes && file.size > maxBytes) {
      info.textContent = file.name + " is " + size + ", more than the " + zone.dataset.maxSize +
        " this page accepts; split the sheet, or use the command line (flowtrac-sync apply).";
      info.classList.add("bad");
      submit.disabled = true;
      return;
    }
    info.textContent = file.name + " (" + size + ")";
  }

  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => {
    zone.classList.remove("over");
  }));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });

  const form = document.getElementById("upload-form");
  form.addEventListener("submit", () => {
    submit.disabled = true;
    document.getElementById("upload-busy").hidden = false;
  });
}

function setupModeChoice() {
  const mode = document.getElementById("mode");
  const mirror = document.getElementById("mirror-options");
  if (!mode || !mirror) return;
  const update = () => { mirror.hidden = mode.value !== "mirror"; };
  mode.addEventListener("change", update);
  update();
}

function setupApplyDialog() {
  const open = document.getElementById("apply-open");
  const dialog = document.getElementById("apply-dialog");
  if (!open || !dialog) return;
  const form = document.getElementById("apply-form");
  const confirm = document.getElementById("apply-confirm");
  open.addEventListener("click", () => dialog.showModal());
  document.getElementById("apply-cancel").addEventListener("click", () => dialog.close());
  let sent = false;
  form.addEventListener("submit", (event) => {
    // One apply per upload: a second click sends nothing (the server refuses it too).
    if (sent) { event.preventDefault(); return; }
    sent = true;
    confirm.disabled = true;
    open.disabled = true;
    confirm.textContent = "Applying…";
  });
}

function setupProgress() {
  const box = document.getElementById("progress");
  if (!box) return;
  const bar = document.getElementById("progress-bar");
  const done = document.getElementById("p-done");
  const total = document.getElementById("p-total");
  const detail = document.getElementById("progress-detail");
  const startedAs = box.dataset.state;

  function render(p) {
    bar.max = Math.max(p.total, 1);
    bar.value = p.total ? p.done : 1;
    done.textContent = p.done;
    total.textContent = p.total;
    const parts = [p.failed + " failed", p.rate.toFixed(1) + " writes/s"];
    if (p.state === "applying" && p.eta_s !== null) parts.push("about " + Math.ceil(p.eta_s) + " s left");
    if (p.state === "applied") parts.push(p.error ? "stopped: " + p.error : "finished");
    detail.textContent = parts.join(" · ");
    box.dataset.state = p.state;
  }

  async function poll() {
    let p;
    try {
      const answer = await fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      p = await answer.json();
    } catch (err) {
      detail.textContent = "Lost contact with the page's server (" + err.message + "); retrying…";
      setTimeout(poll, 2000);
      return;
    }
    render(p);
    if (p.state === "applying") {
      setTimeout(poll, 400);
    } else if (startedAs === "applying") {
      // Finished while we watched: show the result page (same table, final statuses).
      setTimeout(() => window.location.reload(), 700);
    }
  }
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  setupDropzone();
  setupModeChoice();
  setupApplyDialog();
  setupProgress();
});
