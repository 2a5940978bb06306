// The candle intervals and time ranges the page offers, and the candles it makes itself:
// 5m and 15m from the API's 1m candles, 4h from its 1h ones.

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

/** Each interval: its length, the API's interval it is made from, its ranges (the first
 * entry of `ranges` that `start` names is where it opens). */
export const INTERVALS = {
  "1m": { seconds: MINUTE, base: "1m", ranges: ["6h", "24h", "3d"], start: "24h" },
  "5m": { seconds: 5 * MINUTE, base: "1m", ranges: ["24h", "3d", "7d"], start: "3d" },
  "15m": { seconds: 15 * MINUTE, base: "1m", ranges: ["24h", "3d", "7d"], start: "7d" },
  "1h": { seconds: HOUR, base: "1h", ranges: ["24h", "3d", "7d", "30d"], start: "7d" },
  "4h": { seconds: 4 * HOUR, base: "1h", ranges: ["7d", "30d"], start: "30d" },
  "1d": { seconds: DAY, base: "1d", ranges: ["7d", "30d"], start: "30d" },
};

// At most 30 days (the API allows 31) and 10,080 base candles (7 days of 1m; it allows 100,000).
export const RANGES = { "6h": 6 * HOUR, "24h": DAY, "3d": 3 * DAY, "7d": 7 * DAY, "30d": 30 * DAY };

/**
 * The start of `range` before `nowS` for `interval`, in epoch seconds: rounded up to a whole
 * candle (UTC-aligned), so that the first candle is complete and the period never longer
 * than the range.
 */
export function rangeStart(interval, range, nowS) {
  const size = INTERVALS[interval].seconds;
  return Math.ceil((nowS - RANGES[range]) / size) * size;
}

/**
 * Candles of `seconds` made from shorter ones (oldest first, each `{time, open, high, low,
 * close, volume}` with `time` in epoch seconds): UTC-aligned buckets; open the first open,
 * high the highest, low the lowest, close the last close, volume the sum (null if none has one).
 */
export function aggregate(candles, seconds) {
  const out = [];
  let current = null;
  for (const c of candles) {
    const bucket = Math.floor(c.time / seconds) * seconds;
    if (current === null || current.time !== bucket) {
      current = { time: bucket, open: c.open, high: c.high, low: c.low, close: c.close,
                  volume: c.volume };
      out.push(current);
      continue;
    }
    current.high = Math.max(current.high, c.high);
    current.low = Math.min(current.low, c.low);
    current.close = c.close;
    if (c.volume !== null) current.volume = current.volume === null ? c.volume
      : current.volume + c.volume;
  }
  return out;
}
