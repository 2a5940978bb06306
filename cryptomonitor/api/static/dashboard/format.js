// How the dashboard writes numbers, times and alert events: thousands separators in the
// reader's locale, small prices with all their digits, alerts as the sentences of the alerts
// file (cryptomonitor/alerting/lineformat.py), a resolved one saying that its condition cleared.

const LOCALE = undefined; // the browser's
const MAX_DECIMALS = 12;
const SIGNIFICANT = 8; // digits a price keeps: 104,512.37, 2,270.1234, 0.16354

const fixedFormats = new Map();
function fixedFormat(decimals) {
  let f = fixedFormats.get(decimals);
  if (!f) {
    f = new Intl.NumberFormat(LOCALE, {
      minimumFractionDigits: decimals, maximumFractionDigits: decimals,
    });
    fixedFormats.set(decimals, f);
  }
  return f;
}
const anyPrice = new Intl.NumberFormat(LOCALE, { maximumSignificantDigits: SIGNIFICANT });
const fourDigits = new Intl.NumberFormat(LOCALE, { maximumSignificantDigits: 4 });
const compact = new Intl.NumberFormat(LOCALE, { notation: "compact", maximumSignificantDigits: 3 });
const whole = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const signed = new Intl.NumberFormat(LOCALE, {
  minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: "exceptZero",
});
const percent = new Intl.NumberFormat(LOCALE, {
  minimumFractionDigits: 2, maximumFractionDigits: 2,
});

const written = (x) => x !== null && x !== undefined && Number.isFinite(x);
export const NONE = "—";

/** `x` with `decimals` digits after the point, grouped: fixed(104500.5, 1) = "104,500.5". */
export const fixed = (x, decimals) => fixedFormat(decimals).format(x);

/** A price of any size, grouped, with up to 8 significant digits ("—" if unknown). */
export const price = (x) => (written(x) ? anyPrice.format(x) : NONE);

/** A figure to 4 significant digits, grouped: 1,492 / 44 / 0.00389 ("—" if unknown). */
export const figure = (x) => (written(x) ? fourDigits.format(x) : NONE);

/** A volume, short: 1.23K, 45.6M. */
export const volume = (x) => (written(x) ? compact.format(x) : NONE);

export const count = (x) => (written(x) ? whole.format(x) : NONE);

/** A percentage already in percent: 0.91%. */
export const pct = (x) => (written(x) ? `${percent.format(x)}%` : NONE);

/** A change in percent, signed: +1.23% / -0.45% / 0.00%. */
export const change = (x) => (written(x) ? `${signed.format(x)}%` : NONE);

/**
 * The decimals a series of prices needs: the most any of them has (0.16354: 5), but no more
 * than 8 significant digits of the largest allow (a float's noise is not a digit).
 */
export function decimals(values) {
  let most = 0;
  let largest = 0;
  for (const v of values) {
    if (!written(v) || v === 0) continue;
    largest = Math.max(largest, Math.abs(v));
    most = Math.max(most, shownDecimals(v));
  }
  if (largest === 0) return 2;
  const integerDigits = Math.floor(Math.log10(largest)) + 1;
  return Math.min(most, Math.max(0, SIGNIFICANT - integerDigits), MAX_DECIMALS);
}

// The digits after the point of the shortest text that reads back as `v` (1.5e-7: 8).
function shownDecimals(v) {
  const [mantissa, exponent] = String(Math.abs(v)).split("e");
  const dot = mantissa.indexOf(".");
  return Math.max(0, (dot < 0 ? 0 : mantissa.length - dot - 1) - Number(exponent || 0));
}

/** The decimals that tell a price axis's tick marks apart (their step's: 0.0005 -> 4). */
export function tickDecimals(prices, limit) {
  let most = 0;
  for (const p of prices) {
    for (let d = most; d < limit; d += 1) {
      if (Math.abs(Number(p.toFixed(d)) - p) <= Math.abs(p) * 1e-12) break;
      most = d + 1;
    }
  }
  return Math.min(most, limit);
}

export const localTime = (s, withDate) => {
  const d = new Date(s * 1000);
  return withDate ? d.toLocaleString(LOCALE, { dateStyle: "medium", timeStyle: "short" })
    : d.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" });
};
export const utcTime = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");

/** A window's length as the rules name it: 5m, 1h, 1d, 90s. */
export function duration(seconds) {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** A computed figure as the alerts file writes it: 106,412 / 8,416.75 / 0.1834. */
export function human(x) {
  if (!written(x)) return NONE;
  if (Math.abs(x) >= 100000) return fixed(x, 0);
  if (Math.abs(x) >= 1) return fixed(x, 2);
  return fourDigits.format(x);
}

const LEVELS = new Set(["above", "below"]);
const COMBINED = new Set(["all", "any"]);

// A threshold (`x`, default the rule's) as a marker says it: "3x", "2%", "100,000", "3σ".
function thresholdText(a, x = a.threshold) {
  if (a.condition === "ratio_above" || a.condition === "surge") return `${x}x`;
  if (LEVELS.has(a.condition)) return human(x);
  if (a.condition === "zscore") return `${x}σ`;
  if (a.condition === "move" && (a.figures || {}).unit === "absolute") return human(x);
  return `${+(x * 100).toPrecision(6)}%`;
}

const FIGURE_DECIMALS = 2;

/**
 * `x` with 2 decimals, or as many more as it takes to read on its side of `threshold` (by
 * magnitude): above it when `beyond` (an ALERT: 2.004 is "2.004", not "2.00"), below it
 * otherwise (a RESOLVED: 1.996 is "1.996", not "2.00"), as the alerts file writes it.
 */
export function figureText(x, threshold, beyond, plus) {
  const shownAs = (d) => `${x < 0 ? "-" : plus ? "+" : ""}${Math.abs(x).toFixed(d)}`;
  if (Math.abs(Math.abs(x) - threshold) <= 1e-9 * Math.max(Math.abs(x), threshold)) {
    return shownAs(FIGURE_DECIMALS); // at it, but for float noise
  }
  let text = shownAs(FIGURE_DECIMALS);
  for (let d = FIGURE_DECIMALS; d <= MAX_DECIMALS; d += 1) {
    text = shownAs(d);
    const shown = Math.abs(Number(text));
    if (beyond ? shown > threshold : shown < threshold) return text;
  }
  return text;
}

// The threshold an event is read against: a RESOLVED's recovery level where the rule has one.
function limitOf(a) {
  const recover = (a.figures || {}).recover;
  return a.event === "RESOLVED" && typeof recover === "number" ? recover : a.threshold;
}

// How far an alert's value is from what it is judged against: "+2.52" (percent), "3.20x" (a
// ratio rule), "z+3.41" (a z-score), a move's change, a level's value.
function moved(a) {
  const beyond = a.event !== "RESOLVED";
  const f = a.figures || {};
  const limit = limitOf(a);
  if (LEVELS.has(a.condition)) return human(a.value);
  if (COMBINED.has(a.condition)) return `${a.value}/${String(f.of || "").split(",").length} rules`;
  if (a.condition === "zscore") return `z${figureText(f.zscore, limit, beyond, true)}`;
  if (a.condition === "move") {
    if (f.unit === "absolute") {
      const change = a.value - f.reference;
      return `${change < 0 ? "-" : "+"}${human(Math.abs(change))}`;
    }
    return `${figureText(f.change_pct, limit * 100, beyond, true)}%`;
  }
  if (a.condition === "ratio_above" || a.condition === "surge") {
    return `${figureText(a.value / a.window_avg, limit, beyond, false)}x`;
  }
  const p = ((a.value - a.window_avg) / a.window_avg) * 100;
  return `${figureText(p, limit * 100, beyond, true)}%`;
}

/** Whether an alert is about a rise (its marker points up) or a fall. */
export function rising(a) {
  const f = a.figures || {};
  if (a.condition === "above" || COMBINED.has(a.condition)) return true;
  if (a.condition === "below") return false;
  if (a.condition === "move") return a.value >= f.reference;
  return a.value >= a.window_avg;
}

/**
 * An alert event as a sentence, as the alerts file words it: the API's `summary` (the
 * server writes the file's sentence, cryptomonitor/alerting/lineformat.py), e.g.
 * "demo-eth price 2,305.27 no longer 2% above its 5m average 2,260.33 (now +1.40%)".
 */
export function sentence(a) {
  return a.summary;
}

/** The short text of an alert's marker: "+2.52%", "✓ back within 2%", "+3.10% vol". */
export function markerText(a) {
  // The candles are prices: an alert on the rolling 24-hour volume says "vol" (short: the
  // labels of neighbouring candles overlap), any other metric its name.
  const metric = a.metric === "price" || a.metric === "rules" ? ""
    : ` ${a.metric === "volume_24h" ? "vol" : a.metric}`;
  if (a.event === "RESOLVED") {
    // Where it cleared: the recovery level, where the rule has one.
    const at = thresholdText(a, limitOf(a));
    if (a.condition === "ratio_above" || a.condition === "surge") {
      return `✓ back under ${at}${metric}`;
    }
    if (LEVELS.has(a.condition)) return `✓ no longer ${a.condition} ${thresholdText(a)}${metric}`;
    if (COMBINED.has(a.condition)) return `✓ no longer ${a.condition} (${a.rule})`;
    return `✓ back within ${at}${metric}`;
  }
  return `${moved(a)}${metric}`;
}
