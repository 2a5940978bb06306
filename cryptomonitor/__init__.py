"""CryptoMonitor: crypto market ticks into PostgreSQL/TimescaleDB, with candles and alerts."""

from __future__ import annotations

__version__ = "0.1.0"
