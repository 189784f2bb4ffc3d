// m3t-bench leaderboard site: table sorting and signature copying. Plain JavaScript, no dependencies.
"use strict";

function cellKey(row, index, type) {
  const cell = row.children[index];
  const raw = cell ? cell.getAttribute("data-value") : "";
  if (type === "number") {
    return raw === null || raw === "" ? null : Number(raw);
  }
  return (raw || cell.textContent).trim().toLowerCase();
}

function sortTable(th) {
  const table = th.closest("table");
  const tbody = table.tBodies[0];
  const index = Array.prototype.indexOf.call(th.parentNode.children, th);
  const type = th.getAttribute("data-type") || "text";
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  const rows = Array.from(tbody.rows);
  rows.sort(function (a, b) {
    const ka = cellKey(a, index, type), kb = cellKey(b, index, type);
    if (ka === null && kb === null) return 0;
    if (ka === null) return 1;   // missing values last in either direction
    if (kb === null) return -1;
    const order = ka < kb ? -1 : ka > kb ? 1 : 0;
    return ascending ? order : -order;
  });
  rows.forEach(function (r) { tbody.appendChild(r); });
  th.parentNode.querySelectorAll("th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
}

function legacyCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  document.body.removeChild(area);
  return ok;
}

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(function () {
      if (!legacyCopy(text)) throw new Error("copy refused");
    });
  }
  return legacyCopy(text) ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

document.addEventListener("click", function (event) {
  const sortButton = event.target.closest("table.sortable button.sort");
  if (sortButton) {
    sortTable(sortButton.closest("th"));
    return;
  }
  const copyButton = event.target.closest("button.copy");
  if (copyButton) {
    const label = copyButton.textContent;
    copyText(copyButton.getAttribute("data-copy")).then(function () {
      copyButton.textContent = "copied";
      copyButton.classList.add("copied");
    }, function () {
      copyButton.textContent = "select & copy";
    }).finally(function () {
      setTimeout(function () { copyButton.textContent = label; copyButton.classList.remove("copied"); }, 1500);
    });
  }
});
