"""The batch writer: one transaction per batch of ticks, plan -> write -> judge -> save.

Data flows one way: the writer asks the alert cache (`cryptomonitor.alerting.cache`, pure) what
it knows, has the repository (`cryptomonitor.ingest.repository`, all the SQL) write the ticks,
has the alert engine (`cryptomonitor.alerting.engine`, pure) judge the new ones, and the
repository save the events and alert states, all in ONE transaction: the ticks and the events
they raise are committed together or not at all. The writer is the only module that knows the
order of these calls (the cache's docstring states it). The events then wait in the ``alerts``
table (an outbox) for delivery (`cryptomonitor.alerting.alertfile`).

Two paths (docs/design.md, "The fast path"):

- **fast**, for a batch the cache proves new: one binary COPY straight into ``ticks``, judged
  while the server inserts it;
- **general**, for anything else (a restart's first poll, a backfill, a duplicate, another
  writer of the same symbols): staged in a temporary table, checked against the cache, loaded
  where the cache lacks a symbol, inserted idempotently (``ON CONFLICT DO NOTHING``).

Live polls (`lines`, given by ``run``'s pipeline) put the alert lines first: a batch the
cache proves new is judged in memory BEFORE it is written; the ticks of the symbols that raised
events are committed with their events in a small transaction of their own, `lines` writes their
lines, and only then is the rest of the batch written in a second transaction (design.md,
"Alert latency"). A crash between the two loses nothing: the batch is still buffered, and its
first part is found stored and skipped when it is written again.

If another writer raced this one (`exceptions.AlreadyStored`, or a stored tick the cache does
not know), the batch's symbols are reloaded and the batch is started again. If a transaction
fails, the cache forgets the batch's symbols: it must not hold what was rolled back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import psycopg

from cryptomonitor.alerting import engine
from cryptomonitor.alerting.rules import Rule
from cryptomonitor.db.database import Connection, translate
from cryptomonitor.exceptions import AlreadyStored, DatabaseUnavailable
from cryptomonitor.ingest import coherence
from cryptomonitor.ingest.repository import IngestRepository
from cryptomonitor.models import Tick

ATTEMPTS = 3  # a batch raced by other writers this many times in a row waits for the next flush


@dataclasses.dataclass(frozen=True)
class WriteResult:
    new: int
    duplicates: int
    events: int
    fast_path: bool = False  # the batch took the fast path


class BatchWriter:
    """Writes batches of ticks with their alert events; holds the alert cache, the engine
    that judges over it, and what it hears of other sessions."""

    def __init__(self, rules: Sequence[Rule], repeat_interval: float) -> None:
        self.engine = engine.AlertEngine(rules, repeat_interval)
        self.cache = self.engine.new_cache()
        self.hearing = coherence.Hearing()

    def reload(self, conn: Connection, rules: Sequence[Rule]) -> list[str]:
        """Judge with `rules` from the next batch on (a SIGHUP's reload). The rules whose
        definition changed, and those gone, start afresh: their stored states are reset in
        one transaction; unchanged rules go on where they stood. Returns the names reset.
        A database error raises (translated), and the old rules stay in force."""
        old = {r.name: r for r in self.engine.rules}
        new = {r.name: r for r in rules}
        reset = sorted(n for n, r in old.items() if new.get(n) != r)
        if reset:
            try:
                with conn.transaction():
                    IngestRepository(conn).reset_alert_states(reset)
            except psycopg.Error as exc:
                raise translate(exc) from exc
        self.engine = engine.AlertEngine(rules, self.engine.repeat_interval)
        self.cache = self.engine.new_cache()  # reloaded from the database, batch by batch
        return reset

    def write(
        self,
        conn: Connection,
        ticks: Sequence[Tick],
        judge: bool = True,
        lines: Callable[[], object] | None = None,
    ) -> WriteResult:
        """Store `ticks` (skipping those already stored) and raise the alert events of the
        new ones, in one transaction. If it fails, the cache forgets the batch's symbols (it
        must not hold what was rolled back). `judge` False (a backfill): stored and counted in
        the windows, but no rule runs on them. `lines`: write the alert lines of what is
        committed; given, events are committed and `lines` called before the rest of a
        fast-path batch is written."""
        if not ticks:
            return WriteResult(0, 0, 0)
        symbols = {t.symbol for t in ticks}
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._write(IngestRepository(conn), ticks, judge, lines)
            except AlreadyStored as exc:  # another writer: reload the symbols, start again
                self.cache.forget(symbols)
                if attempt == ATTEMPTS:  # retryable: the pipeline keeps the batch
                    raise DatabaseUnavailable(
                        f"alert windows keep changing under this writer: {exc}"
                    ) from exc
            except (
                psycopg.errors.ReadOnlySqlTransaction,
                psycopg.errors.InsufficientPrivilege,
            ) as exc:
                # A primary demoted in a failover, a role changed: it may pass; the batch
                # stays buffered (in the spool) rather than be dropped as poison.
                self.cache.forget(symbols)
                raise DatabaseUnavailable(f"database refuses writes for now: {exc}") from exc
            except psycopg.Error as exc:
                self.cache.forget(symbols)
                raise translate(exc) from exc
            except BaseException:
                self.cache.forget(symbols)
                raise
        raise AssertionError("unreachable")

    def _write(
        self,
        repo: IngestRepository,
        ticks: Sequence[Tick],
        judge: bool,
        lines: Callable[[], object] | None,
    ) -> WriteResult:
        known = self.cache
        repo.prepare_session()
        if known.active and self.hearing.watch(repo.conn):
            known.distrust()  # a connection not watched before may have missed notifications
        first: Sequence[Tick] = ticks
        rest: Sequence[Tick] = ()
        later = engine.NOTHING
        with repo.conn.transaction():  # its BEGIN brings in other sessions' notifications
            known.heard(*self.hearing.take())
            if not known.proves_new(ticks):  # plan
                (new, judgement), fast = self._insert(repo, ticks, judge), False
            elif lines is not None and judge:  # judge first; the events' symbols first
                new, fast = len(ticks), True
                first, rest, judgement, later = _events_first(ticks, self._judge(ticks, True))
                repo.append(first, lambda: None)
            else:
                new, fast = len(ticks), True
                judgement = repo.append(ticks, lambda: self._judge(ticks, judge))  # write + judge
            self._save(repo, first, judgement)
        if rest:
            assert lines is not None
            lines()  # the events' lines, before the rest of the batch is written
            with repo.conn.transaction():
                repo.append(rest, lambda: None)
                self._save(repo, rest, later)
        events = len(judgement.events) + len(later.events)
        return WriteResult(new, len(ticks) - new, events, fast)

    def _judge(self, ticks: Sequence[Tick], judge: bool) -> engine.Judgement:
        """The new `ticks` into the cache: judged by the rules, or (a backfill) only held."""
        if judge:
            return self.engine.judge(self.cache, ticks)
        self.cache.hold(ticks)
        return engine.NOTHING

    def _save(
        self, repo: IngestRepository, ticks: Sequence[Tick], judgement: engine.Judgement
    ) -> None:
        repo.save(judgement.changed.values(), judgement.events)
        if self.cache.active:
            repo.announce(coherence.announcement(t.symbol for t in ticks))

    def _insert(
        self, repo: IngestRepository, ticks: Sequence[Tick], judge: bool
    ) -> tuple[int, engine.Judgement]:
        """The general path: staged, checked against the cache, inserted idempotently."""
        known = self.cache
        repo.stage(ticks, known.newest_known(ticks))
        if known.active:
            known.heard(*self.hearing.take())  # what arrived while the batch was sent
            if (missing := known.checked(ticks, repo.touched_by_others())) is not None:
                known.load(
                    missing,
                    repo.window_ticks(missing.symbols, missing.since),
                    repo.alert_states(missing.symbols),
                    [
                        c
                        for interval, count in missing.closes
                        for c in repo.window_closes(missing.symbols, interval, count)
                    ],
                )
        inserted = repo.insert_staged()
        new, already = _split(ticks, inserted)
        if stale := known.stale(already):
            raise AlreadyStored(stale)
        return len(new), self._judge(new, judge)


def _split(
    ticks: Iterable[Tick],
    inserted: set[tuple[str, dt.datetime]],
) -> tuple[list[Tick], list[Tick]]:
    """The ticks inserted now (oldest first), and those stored before. A batch may hold one
    (symbol, time) twice: the first one counts, the other is neither."""
    new, already = [], []
    seen = set()
    for t in ticks:
        key = (t.symbol, t.time)
        if key in inserted and key not in seen:
            new.append(t)
        elif key not in inserted:
            already.append(t)
        seen.add(key)
    new.sort(key=lambda t: (t.time, t.symbol))
    return new, already


def _events_first(
    ticks: Sequence[Tick],
    judgement: engine.Judgement,
) -> tuple[Sequence[Tick], Sequence[Tick], engine.Judgement, engine.Judgement]:
    """Split a judged batch: the ticks of the symbols that raised events with their part of
    the judgement, then the others' ticks with theirs. No event: one part, the whole batch."""
    urgent = {e.symbol for e in judgement.events}
    if not urgent:
        return ticks, (), judgement, engine.NOTHING
    changed = judgement.changed
    rest = [t for t in ticks if t.symbol not in urgent]
    return (
        [t for t in ticks if t.symbol in urgent],
        rest,
        engine.Judgement(
            judgement.events, {k: st for k, st in changed.items() if st.symbol in urgent}
        ),
        engine.Judgement([], {k: st for k, st in changed.items() if st.symbol not in urgent}),
    )
