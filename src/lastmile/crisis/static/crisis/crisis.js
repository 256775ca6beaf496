/* lastmile crisis room: the volume/negativity chart (vendored Chart.js) and "select all". */
(function () {
  "use strict";

  // Draws a shaded band over the alert's bucket, so the spike and the alarm line up.
  var alertBand = {
    id: "alertBand",
    beforeDatasetsDraw: function (chart, _args, opts) {
      var index = opts && opts.index;
      if (index === null || index === undefined) return;
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      var step = x.getPixelForValue(1) - x.getPixelForValue(0) || 8;
      var center = x.getPixelForValue(index);
      ctx.save();
      ctx.fillStyle = "rgba(201, 41, 27, 0.12)";
      ctx.fillRect(center - step / 2, area.top, step, area.bottom - area.top);
      ctx.strokeStyle = "rgba(201, 41, 27, 0.9)";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(center, area.top);
      ctx.lineTo(center, area.bottom);
      ctx.stroke();
      ctx.fillStyle = "#c9291b";
      ctx.font = "600 11px system-ui, sans-serif";
      // Above the plot (the layout keeps room for it), clear of the lines at the peak.
      ctx.fillText("alert", Math.min(center + 4, area.right - 30), area.top - 5);
      ctx.restore();
    }
  };

  function draw() {
    var canvas = document.getElementById("alert-chart");
    var source = document.getElementById("alert-series");
    if (!canvas || !source || typeof Chart === "undefined" || Chart.getChart(canvas)) return;
    var data = JSON.parse(source.textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          // Negative is drawn over Mentions (lower order is drawn last): when every mention
          // is negative the two lines coincide, and the red one is the news.
          { label: "Mentions", order: 2, data: data.volume, borderColor: "#2952cc", backgroundColor: "rgba(41, 82, 204, 0.10)", fill: true, pointRadius: 0, borderWidth: 2, tension: 0.2, yAxisID: "y" },
          { label: "Negative", order: 1, data: data.negative, borderColor: "#c9291b", backgroundColor: "rgba(201, 41, 27, 0.10)", fill: true, pointRadius: 0, borderWidth: 2, tension: 0.2, yAxisID: "y" },
          // No line across buckets without mentions (their share is unknown, not 0 or 100):
          // a lone negative mention shows as a dot, not a ramp over an hour.
          { label: "Negative share %", order: 0, data: data.share, borderColor: "#b45309", backgroundColor: "rgba(180, 83, 9, 0.12)", pointBackgroundColor: "#b45309", borderDash: [5, 4], pointRadius: 2, borderWidth: 1.5, spanGaps: false, yAxisID: "share" }
        ]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        layout: { padding: { top: 14 } },
        scales: {
          x: { ticks: { maxTicksLimit: 12, autoSkip: true } },
          y: { beginAtZero: true, title: { display: true, text: "per 5 min" } },
          share: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "% negative" } }
        },
        plugins: {
          // In the datasets' order, whatever their drawing order.
          legend: { position: "bottom", labels: { sort: function (a, b) { return a.datasetIndex - b.datasetIndex; } } },
          alertBand: { index: data.alert_index }
        }
      },
      plugins: [alertBand]
    });
  }

  function wire() {
    draw();
    var all = document.getElementById("select-all");
    if (all && !all.dataset.wired) {
      all.dataset.wired = "1";
      all.addEventListener("change", function () {
        var boxes = document.querySelectorAll('#bulk input[name="mentions"]');
        for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
  // After settling: htmx first gives swapped-in elements the old ones' attributes (the old
  // canvas's size), then restores their own; a chart drawn before that would be drawn blank.
  document.addEventListener("htmx:afterSettle", wire);
})();
