// Draws a weightbench report's charts from the JSON in #report-data with the
// chart.js bundle inlined before this script. Runs in the browser; no network.
// Text from profiles only ever reaches the page through chart.js (a canvas) or
// textContent, never as HTML.
(function () {
  "use strict";
  const Chart = globalThis.Chart;
  const root = document.documentElement;
  const source = document.getElementById("report-data");
  const data = JSON.parse(source ? source.textContent : "{}");

  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.devicePixelRatio = Math.max(globalThis.devicePixelRatio || 1, 2);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#3d444d";
  Chart.defaults.plugins.legend.labels.boxWidth = 12;

  const PHASE_COLORS = {
    open: "#9aa0a6",
    parse: "#b07aa1",
    alloc: "#edc948",
    read: "#4e79a7",
    copy: "#59a14f",
    h2d: "#76b7b2",
    dequant: "#f28e2b",
    stage: "#ff9da7",
    verify: "#9c755f",
    free: "#bab0ac",
  };
  const PHASE_ORDER = Object.keys(PHASE_COLORS);
  const SERIES = [
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
  ];
  const CACHE_COLORS = { cold: "#4e79a7", warm: "#f28e2b" };
  const LIMIT = "#d62728";
  const INK = "#1f2328";

  const phaseColor = (phase) => {
    if (Object.hasOwn(PHASE_COLORS, phase)) return PHASE_COLORS[phase];
    let hash = 0;
    for (const ch of String(phase)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    return SERIES[hash % SERIES.length];
  };
  const seriesColor = (i) => SERIES[i % SERIES.length];
  const alpha = (hex, a) => {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
  };
  const fmtMs = (v) => {
    if (v === null || v === undefined) return "—";
    if (v >= 1000) return `${(v / 1000).toFixed(3)} s`;
    if (v >= 10) return `${v.toFixed(1)} ms`;
    return `${v.toFixed(3)} ms`;
  };
  const fmtGBps = (v) => {
    if (v === null || v === undefined) return "—";
    if (v >= 100) return v.toFixed(0);
    if (v >= 0.1) return v.toFixed(2);
    return v.toPrecision(2);
  };
  const DAY = 86_400_000;
  const fmtDate = (t) => new Date(t).toISOString().slice(0, 19).replace("T", " ");
  const completedCases = (profile, group) =>
    group.cases.map((i) => profile.cases[i]).filter((c) => c && c.completed);

  function profileAndGroup(ds) {
    const profile = data.profiles[Number(ds.profile)];
    const group = profile.groups[Number(ds.group)];
    return { profile, cases: completedCases(profile, group) };
  }

  // Stacked phase medians per case, with the median load time as a tick.
  function phases(ds) {
    const { cases } = profileAndGroup(ds);
    const names = [];
    for (const c of cases) for (const [p] of c.phases) if (!names.includes(p)) names.push(p);
    names.sort((a, b) => rank(a) - rank(b));
    const datasets = names.map((name) => ({
      type: "bar",
      label: name,
      data: cases.map((c) => {
        const found = c.phases.find(([p]) => p === name);
        return found ? found[1] : 0;
      }),
      backgroundColor: phaseColor(name),
      stack: "phases",
      order: 2,
    }));
    datasets.push({
      type: "line",
      label: "load median",
      data: cases.map((c) => c.median),
      showLine: false,
      pointStyle: "line",
      pointRotation: 90,
      pointRadius: 11,
      pointHoverRadius: 12,
      pointBorderWidth: 3,
      borderColor: INK,
      backgroundColor: INK,
      order: 0,
    });
    return {
      type: "bar",
      data: { labels: cases.map((c) => c.label), datasets },
      options: {
        indexAxis: "y",
        scales: {
          x: { stacked: true, beginAtZero: true, title: { display: true, text: "ms" } },
          y: { stacked: true },
        },
        plugins: {
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${fmtMs(item.raw)}` } },
        },
      },
    };
  }

  // One dataset per cache state present (cold, warm, …), coloured by state, so the legend says which is which.
  function byCache(cases, make) {
    const states = [];
    for (const c of cases) if (!states.includes(c.cache)) states.push(c.cache);
    return states.map((cache, i) =>
      make(
        cache,
        Object.hasOwn(CACHE_COLORS, cache) ? CACHE_COLORS[cache] : SERIES[(i + 2) % SERIES.length],
      )
    );
  }

  // Log-scale ticks at 1, 2 and 5 times a power of ten only.
  const logTick = (value) => {
    const lead = Number(value.toPrecision(1)) / 10 ** Math.floor(Math.log10(value));
    if (![1, 2, 5].includes(Math.round(lead))) return "";
    return Number(value.toPrecision(1)).toString();
  };

  function rank(phase) {
    const i = PHASE_ORDER.indexOf(phase);
    return i < 0 ? PHASE_ORDER.length : i;
  }

  // GB/s per case with its interval, and the machine limit where known.
  function throughput(ds) {
    const { cases } = profileAndGroup(ds);
    const labels = cases.map((c) => c.label);
    const datasets = byCache(cases, (cache, color) => ({
      type: "bar",
      label: `GB/s, ${cache}`,
      data: cases.map((c) => c.cache === cache ? c.gbps : null),
      backgroundColor: alpha(color, 0.85),
      grouped: false,
      order: 2,
    }));
    datasets.push({
      type: "bar",
      label: "95% interval",
      data: cases.map((c) =>
        c.gbpsLow === null || c.gbpsHigh === null ? null : [c.gbpsLow, c.gbpsHigh]
      ),
      backgroundColor: INK,
      barPercentage: 0.12,
      grouped: false,
      order: 1,
    });
    if (cases.some((c) => c.limitGBps !== null)) {
      datasets.push({
        type: "line",
        label: "machine limit",
        data: cases.map((c) => c.limitGBps),
        showLine: false,
        pointStyle: "line",
        pointRotation: 90,
        pointRadius: 13,
        pointBorderWidth: 3,
        borderColor: LIMIT,
        backgroundColor: LIMIT,
        order: 0,
      });
    }
    // A limit far above every bar would squash the bars to nothing: use a log scale then.
    const values = cases.flatMap((c) => [c.gbps, c.gbpsLow, c.limitGBps]).filter((v) => v > 0);
    const log = values.length > 0 && Math.max(...values) / Math.min(...values) > 20;
    return {
      type: "bar",
      data: { labels, datasets },
      options: {
        indexAxis: "y",
        scales: {
          x: log
            ? {
              type: "logarithmic",
              max: Math.max(...values) * 1.6,
              title: { display: true, text: "GB/s (decimal, log scale)" },
              ticks: { callback: logTick, maxRotation: 0 },
            }
            : { beginAtZero: true, grace: "8%", title: { display: true, text: "GB/s (decimal)" } },
        },
        plugins: {
          legend: { labels: { filter: (item) => item.text !== "95% interval" } },
          tooltip: {
            callbacks: {
              label: (item) => {
                const c = cases[item.dataIndex];
                if (item.dataset.label === "machine limit") {
                  return `limit (${c.limitName}): ${fmtGBps(c.limitGBps)} GB/s`;
                }
                return c.gbpsLow === null || c.gbpsHigh === null
                  ? `${fmtGBps(c.gbps)} GB/s (n too small for a CI)`
                  : `${fmtGBps(c.gbps)} GB/s (95%: ${fmtGBps(c.gbpsLow)}–${fmtGBps(c.gbpsHigh)})`;
              },
            },
          },
        },
      },
    };
  }

  // Box (IQR), whiskers (min–max), median tick and every sample.
  function distribution(ds) {
    const { cases } = profileAndGroup(ds);
    const labels = cases.map((c) => c.label);
    const all = cases.flatMap((c) => c.durations).filter((v) => v > 0);
    const log = all.length > 0 && Math.max(...all) / Math.min(...all) > 20;
    const points = cases.flatMap((c) => c.durations.map((v) => ({ x: c.label, y: v })));
    return {
      type: "bar",
      data: {
        labels,
        datasets: [
          {
            type: "bar",
            label: "min–max",
            data: cases.map((c) => c.min === null || c.max === null ? null : [c.min, c.max]),
            backgroundColor: "#8c959f",
            barPercentage: 0.06,
            grouped: false,
            order: 3,
          },
          ...byCache(cases, (cache, color) => ({
            type: "bar",
            label: `interquartile range, ${cache}`,
            data: cases.map((c) =>
              c.cache !== cache || c.q1 === null || c.q3 === null ? null : [c.q1, c.q3]
            ),
            backgroundColor: alpha(color, 0.35),
            borderColor: color,
            borderWidth: 1,
            barPercentage: 0.55,
            grouped: false,
            order: 2,
          })),
          {
            type: "line",
            label: "median",
            data: cases.map((c) => c.median),
            showLine: false,
            pointStyle: "line",
            pointRadius: 16,
            pointBorderWidth: 3,
            borderColor: INK,
            order: 1,
          },
          {
            type: "line",
            label: "samples",
            data: points,
            showLine: false,
            pointRadius: 3.5,
            pointBackgroundColor: alpha("#1f2328", 0.55),
            borderColor: alpha("#1f2328", 0.55),
            order: 0,
          },
        ],
      },
      options: {
        scales: {
          y: {
            type: log ? "logarithmic" : "linear",
            beginAtZero: !log,
            title: { display: true, text: log ? "ms (log scale)" : "ms" },
            ...(log ? { ticks: { callback: logTick } } : {}),
          },
          x: { ticks: { autoSkip: false, maxRotation: 40 } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (item) => {
                const v = item.raw;
                if (Array.isArray(v)) {
                  return `${item.dataset.label}: ${fmtMs(v[0])} – ${fmtMs(v[1])}`;
                }
                return `${item.dataset.label}: ${fmtMs(typeof v === "object" && v ? v.y : v)}`;
              },
            },
          },
        },
      },
    };
  }

  // One sample's spans as a Gantt chart: a lane per phase, more where spans overlap.
  function timeline(ds) {
    const profile = data.profiles[Number(ds.profile)];
    const c = profile.cases[Number(ds.case)];
    const t = c.timeline;
    const phasesSeen = [];
    for (const s of t.spans) if (!phasesSeen.includes(s[3])) phasesSeen.push(s[3]);
    phasesSeen.sort((a, b) => rank(a) - rank(b));
    const datasets = phasesSeen.map((phase) => ({
      label: phase,
      data: t.spans.filter((s) => s[3] === phase).map((s) => ({
        x: [s[1], s[2]],
        y: t.lanes[s[0]],
        detail: s[4],
      })),
      backgroundColor: phaseColor(phase),
      borderColor: alpha("#1f2328", 0.35),
      borderWidth: 0.5,
      borderSkipped: false,
      grouped: false,
      barPercentage: 0.8,
      categoryPercentage: 1,
      minBarLength: 1,
    }));
    return {
      type: "bar",
      data: { labels: t.lanes, datasets },
      options: {
        indexAxis: "y",
        scales: {
          x: {
            type: "linear",
            min: 0,
            max: t.durationMs,
            ticks: { includeBounds: false },
            title: { display: true, text: "ms from the start of the load" },
          },
          y: { ticks: { autoSkip: false } },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: (item) => {
                const raw = item.raw;
                const span = `${item.dataset.label}: ${fmtMs(raw.x[0])} → ${fmtMs(raw.x[1])} (${
                  fmtMs(raw.x[1] - raw.x[0])
                })`;
                return raw.detail ? [span, raw.detail] : span;
              },
            },
          },
        },
      },
    };
  }

  // GPU memory in use over the representative sample of each case that has samples.
  function gpu(ds) {
    const profile = data.profiles[Number(ds.profile)];
    const cases = profile.cases.filter((c) => c.gpu);
    return {
      type: "line",
      data: {
        datasets: cases.map((c, i) => ({
          label: c.label,
          data: c.gpu.map(([t, used]) => ({ x: t, y: used / 2 ** 30 })),
          borderColor: seriesColor(i),
          backgroundColor: seriesColor(i),
          pointRadius: 0,
          borderWidth: 2,
        })),
      },
      options: {
        scales: {
          x: { type: "linear", title: { display: true, text: "ms from the start of the load" } },
          y: { beginAtZero: true, title: { display: true, text: "GiB in use" } },
        },
      },
    };
  }

  // Several profiles: one bar per profile for each compared case.
  function byProfile(key, axis, format) {
    const c = data.comparison;
    return {
      type: "bar",
      data: {
        labels: c.labels,
        datasets: c.profiles.map((label, i) => ({
          label,
          data: c[key][i],
          backgroundColor: seriesColor(i),
        })),
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, title: { display: true, text: axis } } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${format(item.raw)}` } },
        },
      },
    };
  }

  // Index page: median load time of one case over time, with its 95% interval as a band.
  function trend(ds) {
    const t = data.trends[Number(ds.trend)];
    const range = data.trendRange;
    const span = range ? range[1] - range[0] : 0;
    const point = (i) => t.points.map((p) => ({ x: p[0], y: p[i], run: p[4] }));
    return {
      type: "line",
      data: {
        datasets: [
          {
            label: "95% low",
            data: point(2),
            borderColor: "transparent",
            pointRadius: 0,
            fill: false,
          },
          {
            label: "95% interval",
            data: point(3),
            borderColor: "transparent",
            backgroundColor: alpha(SERIES[0], 0.18),
            pointRadius: 0,
            fill: "-1",
          },
          {
            label: "median",
            data: point(1),
            borderColor: SERIES[0],
            backgroundColor: SERIES[0],
            pointRadius: 3.5,
            borderWidth: 2,
          },
        ],
      },
      options: {
        scales: {
          x: {
            type: "linear",
            ...(range ? { min: range[0], max: range[1] } : {}),
            ticks: {
              callback: (v) =>
                span > 3 * DAY
                  ? fmtDate(v).slice(0, 10)
                  : span > DAY / 12
                  ? fmtDate(v).slice(5, 16)
                  : new Date(v).toISOString().slice(11, 19),
              includeBounds: false,
              maxTicksLimit: 5,
              maxRotation: 0,
              autoSkipPadding: 24,
            },
          },
          y: { beginAtZero: true, title: { display: true, text: "ms" } },
        },
        plugins: {
          legend: { labels: { filter: (item) => item.text !== "95% low" } },
          tooltip: {
            callbacks: {
              title: (items) =>
                items.length ? `${fmtDate(items[0].raw.x)} · ${items[0].raw.run}` : "",
              label: (item) => `${item.dataset.label}: ${fmtMs(item.raw.y)}`,
            },
          },
        },
      },
    };
  }

  const BUILDERS = {
    phases,
    throughput,
    distribution,
    timeline,
    gpu,
    trend,
    "compare-time": () => byProfile("medians", "ms", fmtMs),
    scaling: (ds) => data.profiles[Number(ds.profile)].scaling[ds.metric],
    "compare-gbps": () => byProfile("gbps", "GB/s (decimal)", (v) => `${fmtGBps(v)} GB/s`),
  };

  let drawn = 0;
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    try {
      const build = BUILDERS[canvas.dataset.chart];
      if (!build) throw new Error(`unknown chart "${canvas.dataset.chart}"`);
      new Chart(canvas, build(canvas.dataset));
      drawn++;
    } catch (error) {
      const message = document.createElement("p");
      message.className = "chart-error";
      message.textContent = `This chart could not be drawn: ${error && error.message}`;
      canvas.parentElement.replaceWith(message);
      console.error(error);
    }
  }
  root.dataset.charts = String(drawn);
  root.dataset.ready = "true";
})();
