/* lastmile dashboard: each team's charts (vendored Chart.js), drawn from the JSON the page
   embeds with json_script: the Content-Security-Policy allows no inline script. Without
   script the tables under each chart hold the same numbers. */
(function () {
  "use strict";

  var COLOURS = ["#2952cc", "#b91c1c", "#15803d", "#b45309"];

  function draw() {
    var el = document.getElementById("dashboard-charts");
    if (!el || typeof Chart === "undefined") return;
    JSON.parse(el.textContent).forEach(function (c) {
      var canvas = document.getElementById(c.id);
      if (!canvas || Chart.getChart(canvas)) return;
      new Chart(canvas, {
        type: c.type,
        data: {
          labels: c.labels,
          datasets: c.series.map(function (s, i) {
            return {
              label: s.label,
              data: s.data,
              borderColor: COLOURS[i % COLOURS.length],
              backgroundColor: COLOURS[i % COLOURS.length],
              borderWidth: 2,
              pointRadius: 2,
              spanGaps: false,
              maxBarThickness: 24
            };
          })
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { ticks: { maxTicksLimit: 7, autoSkip: true } },
            y: { beginAtZero: true, suggestedMax: c.unit === "%" ? 100 : undefined, ticks: { precision: 0 } }
          },
          plugins: {
            legend: { position: "bottom", labels: { boxWidth: 12 } },
            tooltip: {
              callbacks: {
                label: function (ctx) {
                  var v = ctx.parsed.y;
                  return ctx.dataset.label + ": " + (v === null ? "—" : v + (c.unit === "%" ? " %" : c.unit === "h" ? " h" : ""));
                }
              }
            }
          }
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
