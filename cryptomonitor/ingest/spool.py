"""The durable spool: every answered poll's ticks on disk before they count as received.

`Spool.append` writes one record per poll and fsyncs it; the pipeline stores records in order
(`peek`) and acknowledges them once committed (`commit`). A crash, OOM kill or redeploy at any
moment therefore loses nothing that was appended: at the next start the records not yet
acknowledged are stored again, in order (the database skips what it already holds: ticks are
idempotent and so are alerts). Memory stays bounded whatever the spool holds: the newest records
are also kept in memory (up to ``memory_ticks``), older ones are read back from disk.

Format, version 1 (docs/operations.md, "The spool"): a directory of segment files named by the
sequence number of their first record (``00000000000000000042.seg``), each starting with the
8-byte magic ``CMSPOOL1``, then records::

    u32 length | u32 crc32 of the payload | payload (`length` bytes of UTF-8 JSON)
    payload: {"t": [[time in integer microseconds since 1970 UTC, symbol, price, volume_24h
              or null, source, traded volume or null], ...]}  (5 fields before the traded
              volume: read as None)

(big-endian integers; JSON floats are written with Python's shortest round-trip repr, so they
read back exactly). ``ack`` holds the sequence number of the next record to store, replaced
atomically after each commit (not fsynced: after a power loss it may lag, and a few records are
stored again, which stores nothing twice). A record cut short or failing its checksum at the end
of the newest segment is a torn write of a crash: it is cut off, logged, and was never
acknowledged to anyone. The spool holds at most ``max_bytes``: past it, the oldest segments are
dropped, counted and logged, never silently.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import itertools
import json
import os
import pathlib
import struct
import zlib
from collections.abc import Iterator, Sequence

import structlog

from cryptomonitor.exceptions import ConfigError
from cryptomonitor.models import Tick
from cryptomonitor.util import times

log = structlog.get_logger(__name__)

#: Starts every segment; its last character is the format's version (a new format, a new magic).
MAGIC = b"CMSPOOL1"
_HEADER = struct.Struct(">II")


def encode(ticks: Sequence[Tick]) -> bytes:
    """One record: header and payload."""
    payload = json.dumps(
        {
            "t": [
                [times.micros(t.time), t.symbol, t.price, t.volume_24h, t.source, t.volume]
                for t in ticks
            ]
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> list[Tick]:
    """A record's ticks; records written before the traded volume (5 fields) read as None."""
    return [
        Tick(
            times.from_micros(us),
            symbol,
            price,
            volume_24h,
            source,
            traded[0] if traded else None,
        )
        for us, symbol, price, volume_24h, source, *traded in json.loads(payload)["t"]
    ]


@dataclasses.dataclass
class _Record:
    seq: int
    segment: pathlib.Path
    offset: int  # of the header
    length: int  # of the payload
    count: int  # ticks in it
    ticks: list[Tick] | None  # None: on disk only


class Spool:
    """Records of ticks on disk, in order; see the module docstring."""

    def __init__(
        self,
        directory: pathlib.Path,
        max_bytes: int,
        memory_ticks: int = 100_000,
        segment_bytes: int | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(64 * 1024, max_bytes // 8)
        self.memory_ticks = memory_ticks
        self.dropped = 0  # ticks dropped past max_bytes, since start
        self._records: collections.deque[_Record] = collections.deque()
        self._in_memory = 0  # ticks held in memory
        self._pending = 0  # ticks not yet committed
        self._next_seq = 0
        self._lock_fd = self._lock()
        self._fd: int | None = None  # the newest segment, open for appending
        self._current: pathlib.Path | None = None  # its path
        #: Every segment file and its size, oldest first: kept here, not listed per poll.
        self._sizes: dict[pathlib.Path, int] = {}
        self._size = 0  # bytes of the newest segment
        self._recover()

    def _lock(self) -> int:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"CRYPTOMONITOR_SPOOL_DIR: cannot use {self.directory}: "
                f"{exc.strerror} (this process runs as uid {os.getuid()})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"CRYPTOMONITOR_SPOOL_DIR: {self.directory} is in use by another "
                "process; give each fetcher a spool of its own"
            ) from None
        return fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.close(self._lock_fd)

    # -- reading back what a previous process left ------------------------------------------

    def _segments(self) -> list[pathlib.Path]:
        return sorted(self.directory.glob("*.seg"))

    def _read_ack(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return int((self.directory / "ack").read_text().strip())
        return 0

    def _recover(self) -> None:
        acked = self._read_ack()
        segments = self._segments()
        for i, segment in enumerate(segments):
            newest = i == len(segments) - 1
            seq = int(segment.stem)
            data = segment.read_bytes()
            if not data.startswith(MAGIC):
                log.error(
                    "spool_segment_unreadable",
                    segment=str(segment),
                    reason="not a version 1 spool segment: left in place, not read",
                )
                continue
            offset = len(MAGIC)
            while offset < len(data):
                header = data[offset : offset + _HEADER.size]
                good = len(header) == _HEADER.size
                if good:
                    length, crc = _HEADER.unpack(header)
                    payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
                    good = len(payload) == length and zlib.crc32(payload) == crc
                if not good:
                    if newest:  # a torn write: the crash came mid-append, nobody was told
                        with open(segment, "r+b") as f:
                            f.truncate(offset)
                        log.warning(
                            "spool_torn_record_cut", segment=str(segment), bytes=len(data) - offset
                        )
                    else:
                        log.error(
                            "spool_record_corrupt",
                            segment=str(segment),
                            offset=offset,
                            reason="checksum or length wrong; the rest of the segment is skipped",
                        )
                    break
                if seq >= acked:
                    count = len(json.loads(payload)["t"])
                    self._records.append(_Record(seq, segment, offset, length, count, None))
                    self._pending += count
                offset += _HEADER.size + length
                seq += 1
            self._next_seq = max(self._next_seq, seq)
        self._sizes = {s: s.stat().st_size for s in self._segments()}
        self._delete_acked(acked)
        if self._records:
            log.info(
                "spool_recovered",
                records=len(self._records),
                ticks=self._pending,
                directory=str(self.directory),
            )

    # -- writing ----------------------------------------------------------------------------

    def append(self, ticks: Sequence[Tick]) -> None:
        """Write `ticks` as one record and fsync it; OSError if the disk refuses."""
        if not ticks:
            return
        record = encode(ticks)
        if self._fd is None or self._size + len(record) > self.segment_bytes:
            self._start_segment()
        assert self._fd is not None
        offset = self._size
        try:
            written = os.write(self._fd, record)
            if written != len(record):
                raise OSError(f"short write to the spool: {written} of {len(record)} bytes")
            os.fsync(self._fd)
        except OSError:
            # Nothing of it may stay: the next record goes where this one was to go.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(record)
        assert self._current is not None
        self._sizes[self._current] = self._size
        self._records.append(
            _Record(
                self._next_seq,
                self._current,
                offset,
                len(record) - _HEADER.size,
                len(ticks),
                list(ticks),
            )
        )
        self._next_seq += 1
        self._pending += len(ticks)
        self._in_memory += len(ticks)
        self._trim_memory()
        self._enforce_bound()

    def _start_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._current = self.directory / f"{self._next_seq:020d}.seg"
        # A file of this name holds no record (every record's number is below _next_seq):
        # at most the magic of a segment started just before a crash. Start it afresh.
        self._fd = os.open(
            self._current, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644
        )
        os.write(self._fd, MAGIC)
        os.fsync(self._fd)
        with contextlib.suppress(OSError):  # the new name must survive a crash too
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self._size = len(MAGIC)
        self._sizes[self._current] = self._size

    def _trim_memory(self) -> None:
        """Keep at most `memory_ticks` in memory, the newest: the older are on disk."""
        for record in self._records:
            if self._in_memory <= self.memory_ticks:
                break
            if record.ticks is not None:
                self._in_memory -= len(record.ticks)
                record.ticks = None

    def _enforce_bound(self) -> None:
        segments = list(self._sizes)
        total = sum(self._sizes.values())
        while total > self.max_bytes and len(segments) > 1:
            oldest = segments.pop(0)
            lost = [r for r in self._records if r.segment == oldest]
            ticks = sum(r.count for r in lost)
            for r in lost:
                self._records.remove(r)
                if r.ticks is not None:
                    self._in_memory -= len(r.ticks)
            self._pending -= ticks
            self.dropped += ticks
            total -= self._sizes.pop(oldest)
            oldest.unlink()
            if ticks:
                log.error(
                    "spool_full_dropped_oldest",
                    ticks=ticks,
                    dropped_total=self.dropped,
                    bound_bytes=self.max_bytes,
                    directory=str(self.directory),
                )

    # -- draining ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Ticks appended and not yet committed."""
        return self._pending

    def _ticks(self, record: _Record) -> list[Tick]:
        """The record's ticks, from memory or disk; a record unreadable on disk (changed
        under us) is logged, counted as dropped and read as empty, never a crash loop."""
        if record.ticks is not None:
            return record.ticks
        try:
            with open(record.segment, "rb") as f:
                f.seek(record.offset)
                length, crc = _HEADER.unpack(f.read(_HEADER.size))
                payload = f.read(record.length)
            if length != record.length or zlib.crc32(payload) != crc:
                raise ValueError("checksum or length wrong")
            return decode(payload)
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            log.error(
                "spool_record_unreadable",
                segment=str(record.segment),
                offset=record.offset,
                ticks=record.count,
                error=str(exc),
            )
            self.dropped += record.count
            record.ticks = []
            self._pending -= record.count
            record.count = 0
            return []

    def peek(self, max_ticks: int) -> tuple[list[Tick], int]:
        """The oldest uncommitted ticks, whole records, at least one record and otherwise at
        most `max_ticks`; and the token to `commit` them with."""
        out: list[Tick] = []
        taken = 0
        for record in self._records:
            ticks = self._ticks(record)
            if out and len(out) + len(ticks) > max_ticks:
                break
            out.extend(ticks)
            taken += 1
        return out, taken

    def commit(self, records: int) -> None:
        """The first `records` records are stored: forget them."""
        for _ in range(records):
            record = self._records.popleft()
            if record.ticks is not None:
                self._in_memory -= record.count
            self._pending -= record.count
        acked = self._records[0].seq if self._records else self._next_seq
        try:
            tmp = self.directory / "ack.tmp"
            tmp.write_text(f"{acked}\n")
            os.replace(tmp, self.directory / "ack")
            self._delete_acked(acked)
        except OSError as exc:  # stored anyway: at worst they are stored again after a crash
            log.warning("spool_ack_failed", directory=str(self.directory), error=str(exc))

    def _delete_acked(self, acked: int) -> None:
        """Delete the segments every record of which is acknowledged (not the open one)."""
        for segment, following in itertools.pairwise(list(self._sizes)):
            if int(following.stem) <= acked and segment != self._current:
                segment.unlink()
                del self._sizes[segment]

    def __iter__(self) -> Iterator[Tick]:  # for tests and tools: every pending tick, in order
        for record in self._records:
            yield from self._ticks(record)
