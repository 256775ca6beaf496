/* lastmile funnels: the steps' bar chart and the conversion trend (vendored Chart.js).
   The data comes from json_script tags: the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function percent(v) {
    return v === null || v === undefined ? "—" : v + " %";
  }

  function drawSteps() {
    var canvas = document.getElementById("funnel-chart");
    var d = data("funnel-steps");
    if (!canvas || !d || Chart.getChart(canvas)) return;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [{ label: "People", data: d.counts, backgroundColor: "#2952cc", borderRadius: 3, maxBarThickness: 90 }]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: function (ctx) {
                var i = ctx.dataIndex;
                var lines = ["From first: " + percent(d.from_first[i])];
                if (i > 0) lines.push("From previous: " + percent(d.from_previous[i]));
                return lines;
              }
            }
          }
        }
      }
    });
  }

  function drawTrend() {
    var canvas = document.getElementById("funnel-trend");
    var d = data("funnel-trend-data");
    if (!canvas || !d || Chart.getChart(canvas)) return;
    new Chart(canvas, {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: "Entered", data: d.entered, backgroundColor: "rgba(41, 82, 204, 0.25)", yAxisID: "y", order: 2 },
          { type: "bar", label: "Converted", data: d.converted, backgroundColor: "rgba(21, 128, 61, 0.6)", yAxisID: "y", order: 1 },
          // No line across periods nobody entered in: their conversion is unknown, not 0.
          { type: "line", label: "Conversion %", data: d.conversion, borderColor: "#b45309", backgroundColor: "#b45309", pointRadius: 2, borderWidth: 2, spanGaps: false, yAxisID: "rate", order: 0 }
        ]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 14, autoSkip: true } },
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "people" } },
          rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "% converted" } }
        },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  // The property field matters only for a property breakdown: shown with it, else hidden
  // (without script it is always there).
  function wireBreakdown() {
    var by = document.getElementById("id_breakdown");
    var field = document.querySelector(".funnel-field-property");
    if (!by || !field || by.dataset.wired) return;
    by.dataset.wired = "1";
    var sync = function () {
      field.hidden = by.value !== "property" && !field.classList.contains("has-error");
    };
    by.addEventListener("change", sync);
    sync();
  }

  function draw() {
    wireBreakdown();
    if (typeof Chart === "undefined") return;
    drawSteps();
    drawTrend();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
