// CryptoMonitor dashboard: candles with alert markers, the volatility ranking, the latest
// alerts and the pipeline's health, refreshed every few seconds from the REST API.
// Plain JavaScript, no build step; the chart is TradingView Lightweight Charts (vendored).
"use strict";

(function () {
  const REFRESH_MS = 5000;
  // How much history each interval shows (the API allows 31 days at most).
  const PERIOD_S = { "1m": 24 * 3600, "1h": 7 * 24 * 3600, "1d": 30 * 24 * 3600 };
  const BUCKET_S = { "1m": 60, "1h": 3600, "1d": 86400 };
  const UP = "#1e56d8";
  const DOWN = "#c2410c";

  const $ = (id) => document.getElementById(id);
  const state = { symbol: null, interval: "1m", renders: 0, candles: [], markers: [] };

  const localTime = (s, withDate) => {
    const d = new Date(s * 1000);
    return withDate ? d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  };
  const utcTime = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");
  const epoch = (iso) => Math.floor(Date.parse(iso) / 1000);
  const isoAgo = (seconds) => new Date(Date.now() - seconds * 1000).toISOString();

  const chart = LightweightCharts.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#1c2030" },
    grid: { vertLines: { color: "#eef0f5" }, horzLines: { color: "#eef0f5" } },
    timeScale: {
      timeVisible: true, secondsVisible: false,
      tickMarkFormatter: (t, kind) => (kind <= 2 ? new Date(t * 1000).toLocaleDateString()
        : localTime(t, false)),
    },
    localization: {
      // Crosshair label: local time, and UTC for the record.
      timeFormatter: (t) => `${localTime(t, true)} (${utcTime(t).slice(11, 16)} UTC)`,
    },
  });
  // Not colour alone: rising candles are hollow, falling ones filled.
  const series = chart.addSeries(LightweightCharts.CandlestickSeries, {
    upColor: "rgba(0,0,0,0)", borderUpColor: UP, wickUpColor: UP,
    downColor: DOWN, borderDownColor: DOWN, wickDownColor: DOWN,
  });
  const markers = LightweightCharts.createSeriesMarkers(series, []);

  // `allow503`: /health answers 503 with a body worth showing (stale data, database down).
  async function getJson(path, allow503) {
    const answer = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok && !(allow503 && answer.status === 503)) {
      const detail = typeof body.detail === "string" ? body.detail : answer.statusText;
      throw new Error(`${path}: ${answer.status} ${detail}`);
    }
    return { status: answer.status, body };
  }

  function showError(message) {
    const box = $("error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  function alertMarker(a) {
    const bucket = Math.floor(epoch(a.time) / BUCKET_S[state.interval]) * BUCKET_S[state.interval];
    const above = a.value >= a.window_avg;
    const pct = ((a.value - a.window_avg) / a.window_avg) * 100;
    if (a.event === "RESOLVED") {
      return { time: bucket, position: "aboveBar", shape: "circle", color: "#5b6275",
               text: "ok", id: a.alert_id };
    }
    return { time: bucket, position: above ? "aboveBar" : "belowBar",
             shape: above ? "arrowUp" : "arrowDown", color: above ? UP : DOWN,
             text: `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`, id: a.alert_id };
  }

  async function loadChart(fit) {
    const { symbol, interval } = state;
    const from = isoAgo(PERIOD_S[interval]);
    const query = `interval=${interval}&from=${encodeURIComponent(from)}`;
    const [candles, alerts] = await Promise.all([
      getJson(`/metrics/${encodeURIComponent(symbol)}?${query}`),
      getJson(`/alerts?symbol=${encodeURIComponent(symbol)}&from=${encodeURIComponent(from)}` +
              "&limit=1000"),
    ]);
    if (symbol !== state.symbol || interval !== state.interval) return; // switched meanwhile
    state.candles = (candles.body.candles || []).map((c) => ({
      time: epoch(c.bucket), open: c.open, high: c.high, low: c.low, close: c.close,
    }));
    series.setData(state.candles);
    const times = new Set(state.candles.map((c) => c.time));
    state.markers = (alerts.body.alerts || []).map(alertMarker)
      .filter((m) => times.has(m.time)).sort((a, b) => a.time - b.time);
    markers.setMarkers(state.markers);
    $("chart-title").textContent = `${symbol} · ${interval} candles · price`;
    if (fit) chart.timeScale().fitContent();
  }

  async function loadRank() {
    const { body } = await getJson("/rank");
    const rows = (body.ranking || []).map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.symbol = r.symbol;
      tr.className = r.symbol === state.symbol ? "current" : "";
      for (const text of [r.rank, r.symbol,
        r.stddev === null ? "–" : r.stddev.toPrecision(4), r.samples]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.appendChild(td);
      }
      tr.addEventListener("click", () => select(r.symbol, state.interval));
      return tr;
    });
    $("rank").tBodies[0].replaceChildren(...rows);
  }

  async function loadAlerts() {
    const { body } = await getJson("/alerts?limit=20");
    const items = (body.alerts || []).map((a) => {
      const li = document.createElement("li");
      const pct = ((a.value - a.window_avg) / a.window_avg) * 100;
      const when = document.createElement("time");
      when.dateTime = a.time;
      when.title = `${a.time} (UTC)`;
      when.textContent = localTime(epoch(a.time), true);
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = a.event === "ALERT" ? "ALERT" : "RESOLVED";
      li.append(when, kind, `${a.symbol} ${a.metric} ${a.value} is ${Math.abs(pct).toFixed(1)}% `
        + `${pct >= 0 ? "above" : "below"} its ${a.window_seconds / 60}m average (${a.rule})`);
      return li;
    });
    $("alerts").replaceChildren(...items);
  }

  async function loadHealth() {
    const badge = $("health");
    try {
      const { body } = await getJson("/health", true);
      const age = body.newest_tick_age_s;
      badge.className = `badge ${body.status === "ok" ? "ok" : body.database === "ok" ? "stale" : "down"}`;
      badge.textContent = body.database !== "ok" ? "database unreachable"
        : age === null ? "no ticks yet"
          : `${body.status} · newest tick ${age < 90 ? `${Math.round(age)} s` : `${Math.round(age / 60)} min`} ago`;
    } catch (e) {
      badge.className = "badge down";
      badge.textContent = "API unreachable";
    }
  }

  async function refresh(fit) {
    try {
      await Promise.all([loadChart(fit), loadRank(), loadAlerts(), loadHealth()]);
      showError("");
      state.renders += 1;
      if (state.readyAt === undefined) state.readyAt = performance.now();
      document.body.dataset.state = "ready";
      document.body.dataset.renders = String(state.renders);
    } catch (e) {
      showError(`Could not load: ${e.message}`);
      document.body.dataset.state = "error";
    }
  }

  function select(symbol, interval) {
    state.symbol = symbol;
    state.interval = interval;
    $("symbol").value = symbol;
    for (const b of document.querySelectorAll("#intervals button")) {
      b.setAttribute("aria-pressed", String(b.dataset.interval === interval));
    }
    history.replaceState(null, "", `#${encodeURIComponent(symbol)}/${interval}`);
    document.body.dataset.state = "loading";
    return refresh(true);
  }

  async function start() {
    try {
      const { body } = await getJson("/metrics");
      const symbols = [...new Set((body.metrics || []).map((m) => m.symbol))].sort();
      $("symbol").replaceChildren(...symbols.map((s) => new Option(s, s)));
      if (!symbols.length) {
        showError("No ticks stored yet: start the fetcher (cryptomonitor run), or try "
                  + "`cryptomonitor demo`.");
        document.body.dataset.state = "empty";
        await loadHealth();
        return;
      }
      let hash = "";
      try {
        hash = decodeURIComponent(location.hash.slice(1));
      } catch (e) { /* a malformed link: ignore it */ }
      const [hashSymbol, hashInterval] = hash.split("/");
      const ranked = (await getJson("/rank")).body.ranking || [];
      const symbol = symbols.includes(hashSymbol) ? hashSymbol
        : ranked.length ? ranked[0].symbol : symbols[0];
      await select(symbol, PERIOD_S[hashInterval] ? hashInterval : "1m");
    } catch (e) {
      showError(`Could not load: ${e.message}`);
      document.body.dataset.state = "error";
    }
    setInterval(() => { if (state.symbol) refresh(false); }, REFRESH_MS);
  }

  $("symbol").addEventListener("change", (e) => select(e.target.value, state.interval));
  for (const b of document.querySelectorAll("#intervals button")) {
    b.addEventListener("click", () => select(state.symbol, b.dataset.interval));
  }
  // For tests and the curious: the chart's own view of what it draws.
  window.cryptomonitor = { chart, series, state, markers: () => markers.markers() };
  start();
}());
