"""WebSocket stream sources: the exchange pushes, a background thread listens.

- `connection`: one socket in a thread (subscribe, read with a silence timeout, reconnect with
  jittered exponential backoff, resubscribe), handing ticks to a bounded `buffer`.
- `binance`, `kraken`: each exchange's URL, subscribe messages, limits and frame parsing.
- `gaps`: missing 1-minute klines found and repaired through the REST klines.
- `source`: the `Source` that `run` polls: `fetch()` drains what arrived, `close()` stops.

See docs/streams.md.
"""
