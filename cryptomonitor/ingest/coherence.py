"""How a writer's alert cache hears other sessions change `ticks`: LISTEN/NOTIFY.

Migration 0008's trigger notifies ``cryptomonitor_ticks_changed`` after every statement that
changes ``ticks``, with the operation as payload (``INSERT``, ``UPDATE``, ``DELETE``,
``TRUNCATE``);
a CryptoMonitor writer announces its own inserts itself, naming the symbols
(``INSERT ["bitcoin", ...]``, see `announcement`), so that writers of other symbols can keep
trusting their caches. `Hearing` collects what was heard; `cryptomonitor.alerting.cache` acts on
it before its next batch. Notifications arrive when the connection next talks to the server
(a batch's BEGIN brings them in).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from typing import Any

import psycopg

from cryptomonitor.db import queries

#: The channel migration 0008's trigger notifies after every statement that changes ticks.
CHANNEL = "cryptomonitor_ticks_changed"
PAYLOAD_BYTES = 7900  # PostgreSQL refuses a notification payload of 8000 bytes or more

Connection = psycopg.Connection[tuple[Any, ...]]


class Hearing:
    """What other sessions did to ticks since it was last taken."""

    def __init__(self) -> None:
        self.operations: set[str] = set()  # bare operations: they may concern any symbol
        self.symbols: set[str] = set()  # symbols other writers said they inserted
        self._watched: weakref.WeakSet[Connection] = weakref.WeakSet()

    def watch(self, conn: Connection) -> bool:
        """LISTEN on `conn`; True if it was not watched before (it may have missed
        notifications: the caller checks its whole cache again)."""
        if conn in self._watched:
            return False
        conn.execute(queries.get("listen_ticks_changed"))
        own = conn.info.backend_pid

        def heard(notify: psycopg.Notify) -> None:
            if notify.channel == CHANNEL and notify.pid != own:
                self.hear(notify.payload)

        conn.add_notify_handler(heard)
        self._watched.add(conn)
        return True

    def hear(self, payload: str) -> None:
        """Note a notification: 'INSERT ["sym", ...]' from a writer, or a bare operation."""
        operation, _, symbols = payload.partition(" ")
        if operation == "INSERT" and symbols:
            try:
                named = json.loads(symbols)
            except ValueError:
                named = None
            if isinstance(named, list) and all(isinstance(x, str) for x in named):
                self.symbols.update(named)
                return
        self.operations.add(operation)

    def take(self) -> tuple[set[str], set[str]]:
        """What was heard (symbols inserted, bare operations), forgetting it."""
        taken = (self.symbols, self.operations)
        self.symbols, self.operations = set(), set()
        return taken


def announcement(symbols: Iterable[str]) -> list[str]:
    """The notifications naming `symbols`, each under PostgreSQL's 8000-byte payload limit
    (a symbol too long for one: the bare 'INSERT', which concerns every symbol)."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 0
    for symbol in dict.fromkeys(symbols):
        length = len(json.dumps(symbol).encode())
        if length > PAYLOAD_BYTES:
            return ["INSERT"]
        if size + length + 2 > PAYLOAD_BYTES:  # + the ", " that separates it
            payloads.append("INSERT " + json.dumps(chunk))
            chunk, size = [], 0
        chunk.append(symbol)
        size += length + 2
    if chunk:
        payloads.append("INSERT " + json.dumps(chunk))
    return payloads
