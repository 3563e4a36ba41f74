/* AgentConnect dashboard: kanban drag and drop, charts, upload progress. No inline scripts:
   the pages' Content-Security-Policy allows scripts from this site only. */
(function () {
  "use strict";

  var body = document.body;
  var base = body.dataset.base || "";

  function csrf() { return body.dataset.csrf || ""; }

  function flash(message, isError) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = isError ? "error" : "notice";
    p.setAttribute("role", isError ? "alert" : "status");
    p.textContent = message;
    box.replaceChildren(p);
  }

  // --- kanban --------------------------------------------------------------------------------

  function boardUrl() {
    var form = document.getElementById("board-filters");
    var query = form ? new URLSearchParams(new FormData(form)).toString() : "";
    return base + "/pipeline" + (query ? "?" + query : "");
  }

  function refreshBoard() {
    if (window.htmx) {
      window.htmx.ajax("GET", boardUrl(), { target: "#board", swap: "outerHTML" });
    } else {
      window.location.reload();
    }
  }

  function askReason(detail) {
    return new Promise(function (resolve) {
      var dialog = document.getElementById("reason-dialog");
      if (!dialog || typeof dialog.showModal !== "function") {
        resolve(null);
        return;
      }
      var form = document.getElementById("reason-form");
      var field = form.elements.namedItem("reason");
      field.value = "";
      document.getElementById("reason-detail").textContent = detail || "";
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        var value = field.value.trim();
        resolve(dialog.returnValue === "ok" && value ? value : null);
      });
      dialog.showModal();
      field.focus();
    });
  }

  function postStage(leadId, stage, reason) {
    var data = new FormData();
    data.append("stage", stage);
    data.append("csrf_token", csrf());
    if (reason) { data.append("reason", reason); }
    return fetch(base + "/leads/" + leadId + "/stage", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf() }
    }).then(function (response) {
      return response.json().then(function (payload) {
        return { ok: response.ok, status: response.status, payload: payload };
      });
    });
  }

  function moveLead(leadId, from, to) {
    var board = document.getElementById("board");
    var reasonTo = (board.dataset.reasonTo || "").split(",");
    var reasonFrom = (board.dataset.reasonFrom || "").split(",");
    var first = (reasonTo.indexOf(to) >= 0 || reasonFrom.indexOf(from) >= 0)
      ? askReason("Moving from " + from + " to " + to + " needs a reason.")
      : Promise.resolve("");
    first.then(function (reason) {
      if (reason === null) { return null; }
      return postStage(leadId, to, reason).then(function (result) {
        if (!result.ok && result.payload.needs_reason) {
          return askReason(result.payload.detail).then(function (again) {
            return again === null ? null : postStage(leadId, to, again);
          });
        }
        return result;
      });
    }).then(function (result) {
      if (!result) { return; }
      if (result.ok) {
        flash("Moved to " + to.replace("_", " ") + ".", false);
        refreshBoard();
      } else {
        flash(result.payload.detail || "The lead could not be moved.", true);
      }
    }).catch(function () {
      flash("The lead could not be moved: the server did not answer.", true);
    });
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".leadcard[draggable=true]");
    if (!card) { return; }
    event.dataTransfer.setData("text/plain", card.dataset.leadId + " " + card.dataset.stage);
    event.dataTransfer.effectAllowed = "move";
    card.classList.add("dragging");
  });
  document.addEventListener("dragend", function (event) {
    var card = event.target.closest && event.target.closest(".leadcard");
    if (card) { card.classList.remove("dragging"); }
  });
  document.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".column");
    if (!column) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("over");
  });
  document.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".column");
    if (column && !column.contains(event.relatedTarget)) { column.classList.remove("over"); }
  });
  document.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".column");
    if (!column) { return; }
    event.preventDefault();
    column.classList.remove("over");
    var parts = (event.dataTransfer.getData("text/plain") || "").split(" ");
    if (parts.length !== 2 || parts[1] === column.dataset.stage) { return; }
    moveLead(parts[0], parts[1], column.dataset.stage);
  });

  // --- charts --------------------------------------------------------------------------------

  var palette = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563"];

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var builders = {
    scores: function (data) {
      return {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [{ label: "score", data: data.scores, backgroundColor: palette[0] }]
        },
        options: { indexAxis: "y", scales: { x: { min: 0, max: 100 } },
                   plugins: { legend: { display: false } } }
      };
    },
    funnel: function (data) {
      return {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [{ label: "contacts", data: data.values, backgroundColor: palette }]
        },
        options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } }
      };
    },
    series: function (data) {
      return {
        type: "line",
        data: {
          labels: data.labels,
          datasets: data.series.map(function (s, i) {
            return { label: s.name, data: s.values, borderColor: palette[i % palette.length],
                     backgroundColor: palette[i % palette.length], tension: 0.2 };
          })
        },
        options: { scales: { y: { beginAtZero: true } }, interaction: { mode: "index" } }
      };
    }
  };

  function drawCharts(root) {
    if (!window.Chart) { return; }
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var kind = canvas.dataset.chart;
      var data = readJson(canvas.dataset.source || (kind === "scores" ? "score-data" : kind + "-data"));
      if (!data || !builders[kind]) { return; }
      var config = builders[kind](data);
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      config.options.animation = false;
      new window.Chart(canvas, config);
      var points = config.data.datasets.reduce(function (n, d) {
        return n + d.data.filter(function (v) { return v !== null; }).length;
      }, 0);
      canvas.dataset.drawn = "true";
      canvas.dataset.points = String(points);
    });
  }

  // --- upload progress -----------------------------------------------------------------------

  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest && event.target.closest("form");
    var bar = form && form.querySelector("progress");
    if (bar && event.detail.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var bar = event.target.querySelector && event.target.querySelector("progress");
    if (bar) { bar.hidden = false; bar.value = 0; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = event.target.querySelector && event.target.querySelector("progress");
    if (bar) { bar.value = 100; }
  });

  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  } else {
    drawCharts(document);
  }
})();
