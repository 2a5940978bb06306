// CryptoMonitor dashboard: candles and traded volume with alert markers, the volatility
// ranking with each symbol's last price, the latest alerts and the pipeline's health,
// refreshed every few seconds from the REST API.
// Plain JavaScript modules, no build step; the chart is TradingView Lightweight Charts
// (vendored, loaded before this module as the global `LightweightCharts`).
import * as candles from "./candles.js";
import * as format from "./format.js";

const REFRESH_MS = 5000;
const UP = "#1e56d8";
const DOWN = "#c2410c";
// Volume bars follow the candles: light for a rising one (hollow), solid for a falling one.
const VOLUME_UP = "rgba(30, 86, 216, 0.4)";
const VOLUME_DOWN = "rgba(194, 65, 12, 0.85)";
const LABEL_PX = 18; // the height of a price-axis label: no tick label within it of the last price
const LC = globalThis.LightweightCharts;

const $ = (id) => document.getElementById(id);
const state = {
  symbol: null, interval: "1m", range: "24h", by: "cv", renders: 0, decimals: 2,
  lastClose: null, from: null, candles: [], markers: [],
};

const epoch = (iso) => Math.floor(Date.parse(iso) / 1000);
const isoTime = (s) => new Date(s * 1000).toISOString();

const chart = LC.createChart($("chart"), {
  autoSize: true,
  layout: { background: { color: "#ffffff" }, textColor: "#1c2030" },
  grid: { vertLines: { color: "#eef0f5" }, horzLines: { color: "#eef0f5" } },
  timeScale: {
    timeVisible: true, secondsVisible: false,
    tickMarkFormatter: (t, kind) => (kind <= 2 ? new Date(t * 1000).toLocaleDateString()
      : format.localTime(t, false)),
  },
  localization: {
    // Crosshair label: local time, and UTC for the record.
    timeFormatter: (t) => `${format.localTime(t, true)} (${format.utcTime(t).slice(11, 16)} UTC)`,
  },
});

// Labels of the price axis: grouped (104,500.5), with the digits the symbol's prices have
// (0.16354), and none hidden under the last price's label.
function priceFormat(decimals) {
  return {
    type: "custom",
    minMove: 10 ** -decimals,
    formatter: (p) => format.fixed(p, decimals),
    tickmarksFormatter: (prices) => {
      const shown = format.tickDecimals(prices, decimals);
      const last = state.lastClose === null ? null : series.priceToCoordinate(state.lastClose);
      return prices.map((p) => {
        const y = last === null ? null : series.priceToCoordinate(p);
        return y !== null && Math.abs(y - last) < LABEL_PX ? "" : format.fixed(p, shown);
      });
    },
  };
}

// Not colour alone: rising candles are hollow, falling ones filled.
const series = chart.addSeries(LC.CandlestickSeries, {
  upColor: "rgba(0,0,0,0)", borderUpColor: UP, wickUpColor: UP,
  downColor: DOWN, borderDownColor: DOWN, wickDownColor: DOWN,
  priceFormat: priceFormat(state.decimals),
});
series.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.05 } });
const markers = LC.createSeriesMarkers(series, []);
let volumeSeries = null; // in a pane of its own under the candles, while there is volume

function showVolume(points) {
  const any = points.some((p) => p.value !== undefined);
  $("volume-note").hidden = any;
  if (!any) {
    if (volumeSeries) chart.removeSeries(volumeSeries);
    volumeSeries = null;
    return;
  }
  if (!volumeSeries) {
    volumeSeries = chart.addSeries(LC.HistogramSeries, {
      priceFormat: { type: "custom", minMove: 1e-8, formatter: format.volume },
      priceLineVisible: false, lastValueVisible: false, title: "",
    }, 1);
    const panes = chart.panes();
    panes[0].setStretchFactor(3);
    panes[1].setStretchFactor(1);
  }
  volumeSeries.setData(points);
}

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

function alertMarker(a, size) {
  const time = Math.floor(epoch(a.time) / size) * size;
  const text = format.markerText(a);
  if (a.event === "RESOLVED") {
    return { time, position: "aboveBar", shape: "circle", color: "#5b6275", text, id: a.alert_id };
  }
  const above = format.rising(a);
  return { time, position: above ? "aboveBar" : "belowBar",
           shape: above ? "arrowUp" : "arrowDown", color: above ? UP : DOWN, text,
           id: a.alert_id };
}

// One marker per candle and kind (up, down, resolved), the earliest event's, with how many
// more it stands for: a 4h candle holding a dozen alerts would stack them past the chart's top.
function candleMarkers(alerts, size, times) {
  const groups = new Map();
  for (const a of alerts) {
    const m = alertMarker(a, size);
    if (!times.has(m.time)) continue;
    const key = `${m.time}|${m.position}|${m.shape}`;
    const group = groups.get(key);
    if (!group) groups.set(key, { marker: m, first: epoch(a.time), more: 0 });
    else {
      group.more += 1;
      if (epoch(a.time) < group.first) Object.assign(group, { marker: m, first: epoch(a.time) });
    }
  }
  return [...groups.values()].map(({ marker, more }) => (more
    ? { ...marker, text: `${marker.text} (+${more})` } : marker)).sort((a, b) => a.time - b.time);
}

async function loadChart(fit) {
  const { symbol, interval, range } = state;
  const spec = candles.INTERVALS[interval];
  const from = isoTime(candles.rangeStart(interval, range, Date.now() / 1000));
  const query = `interval=${spec.base}&from=${encodeURIComponent(from)}`;
  const [answer, alerts] = await Promise.all([
    getJson(`/metrics/${encodeURIComponent(symbol)}?${query}`),
    getJson(`/alerts?symbol=${encodeURIComponent(symbol)}&from=${encodeURIComponent(from)}` +
            "&limit=1000"),
  ]);
  if (symbol !== state.symbol || interval !== state.interval || range !== state.range) return;
  const base = (answer.body.candles || []).map((c) => ({
    time: epoch(c.bucket), open: c.open, high: c.high, low: c.low, close: c.close,
    volume: c.volume ?? null,
  }));
  const made = spec.base === interval ? base : candles.aggregate(base, spec.seconds);
  state.from = from;
  state.candles = made;
  state.lastClose = made.length ? made[made.length - 1].close : null;
  const decimals = format.decimals(made.map((c) => c.close));
  if (decimals !== state.decimals) {
    state.decimals = decimals;
    series.applyOptions({ priceFormat: priceFormat(decimals) });
  }
  series.setData(made.map(({ time, open, high, low, close }) => ({ time, open, high, low, close })));
  showVolume(made.map((c) => (c.volume === null ? { time: c.time } : {
    time: c.time, value: c.volume, color: c.close >= c.open ? VOLUME_UP : VOLUME_DOWN,
  })));
  const times = new Set(made.map((c) => c.time));
  state.markers = candleMarkers(alerts.body.alerts || [], spec.seconds, times);
  markers.setMarkers(state.markers);
  $("chart-title").textContent = `${symbol} · ${interval} candles · `
    + `${volumeSeries ? "price and traded volume" : "price"}`;
  if (fit) chart.timeScale().fitContent();
}

function cell(text, className, title) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  if (title) td.title = title;
  return td;
}

// Signed (+1.23% / -0.45%), so not told by colour alone.
function changeCell(pct) {
  const known = pct !== null && pct !== undefined && pct !== 0;
  return cell(format.change(pct), known ? (pct > 0 ? "up" : "down") : "");
}

async function loadRank() {
  const { body } = await getJson(`/rank?by=${state.by}`);
  const ranking = body.ranking || [];
  // What ranks: each row says (`by`); an API without it ranks by standard deviation.
  const by = ranking.length && ranking[0].by ? ranking[0].by : ranking.length ? "stddev" : state.by;
  for (const th of document.querySelectorAll("#rank th[data-by]")) {
    const ranks = th.dataset.by === by;
    th.setAttribute("aria-sort", ranks ? "descending" : "none");
    th.querySelector("button").setAttribute("aria-pressed", String(ranks));
  }
  const rows = ranking.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = r.symbol;
    tr.className = r.symbol === state.symbol ? "current" : "";
    const ticks = `from ${format.count(r.samples)} ticks`;
    tr.append(
      cell(String(r.rank)),
      cell(r.symbol),
      cell(format.price(r.last_price), "last"),
      changeCell(r.change_24h_pct),
      cell(format.pct(r.cv_pct), "cv", `standard deviation ÷ mean of the price, ${ticks}`),
      cell(format.figure(r.stddev), "stddev", `sample standard deviation of the price, in its `
        + `price units, ${ticks}`),
    );
    tr.addEventListener("click", () => select(r.symbol, state.interval, state.range));
    return tr;
  });
  $("rank").tBodies[0].replaceChildren(...rows);
}

async function loadAlerts() {
  const { body } = await getJson("/alerts?limit=20");
  const items = (body.alerts || []).map((a) => {
    const li = document.createElement("li");
    li.className = a.event === "RESOLVED" ? "resolved" : "alerting";
    const when = document.createElement("time");
    when.dateTime = a.time;
    when.title = `${a.time} (UTC)`;
    when.textContent = format.localTime(epoch(a.time), true);
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = a.event === "RESOLVED" ? "✓ RESOLVED" : "ALERT";
    li.append(when, kind, `${format.sentence(a)} (${a.rule})`);
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

// The range menu holds the ranges of `interval`.
function showRanges(interval, range) {
  const menu = $("range");
  menu.replaceChildren(...candles.INTERVALS[interval].ranges.map((r) => new Option(r, r)));
  menu.value = range;
}

/** Chart `symbol` in `interval` candles over `range` (default: the interval's own). */
function select(symbol, interval, range) {
  const spec = candles.INTERVALS[interval];
  state.symbol = symbol;
  state.interval = interval;
  state.range = spec.ranges.includes(range) ? range : spec.start;
  $("symbol").value = symbol;
  for (const b of document.querySelectorAll("#intervals button")) {
    b.setAttribute("aria-pressed", String(b.dataset.interval === interval));
  }
  showRanges(interval, state.range);
  history.replaceState(null, "", `#${encodeURIComponent(symbol)}/${interval}/${state.range}`);
  document.body.dataset.state = "loading";
  return refresh(true);
}

// The URL's [symbol, interval, range] (/#demo-eth/15m/3d; any may be missing or wrong).
function fromHash() {
  try {
    return decodeURIComponent(location.hash.slice(1)).split("/");
  } catch (e) {
    return []; // a malformed link: ignore it
  }
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
    const [hashSymbol, hashInterval, hashRange] = fromHash();
    const ranked = (await getJson(`/rank?by=${state.by}`)).body.ranking || [];
    const symbol = symbols.includes(hashSymbol) ? hashSymbol
      : ranked.length ? ranked[0].symbol : symbols[0];
    await select(symbol, candles.INTERVALS[hashInterval] ? hashInterval : "1m", hashRange);
  } catch (e) {
    showError(`Could not load: ${e.message}`);
    document.body.dataset.state = "error";
  }
  setInterval(() => { if (state.symbol) refresh(false); }, REFRESH_MS);
}

// A link or the address bar naming another chart (/#demo-eth/15m/3d).
addEventListener("hashchange", () => {
  const [symbol, interval, range] = fromHash();
  if (state.symbol && [...$("symbol").options].some((o) => o.value === symbol)) {
    select(symbol, candles.INTERVALS[interval] ? interval : state.interval, range);
  }
});
$("symbol").addEventListener("change", (e) => select(e.target.value, state.interval, state.range));
$("range").addEventListener("change", (e) => select(state.symbol, state.interval, e.target.value));
for (const b of document.querySelectorAll("#intervals button")) {
  b.addEventListener("click", () => select(state.symbol, b.dataset.interval));
}
for (const th of document.querySelectorAll("#rank th[data-by]")) {
  th.querySelector("button").addEventListener("click", () => {
    state.by = th.dataset.by;
    loadRank().catch((e) => showError(`Could not load: ${e.message}`));
  });
}
// For tests and the curious: the chart's own view of what it draws.
globalThis.cryptomonitor = {
  chart, series, state, format, candles,
  volume: () => (volumeSeries ? volumeSeries.data() : null),
  markers: () => markers.markers(),
};
start();
