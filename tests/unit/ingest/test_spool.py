"""The durable spool (cryptomonitor.ingest.spool) on a real filesystem: exact round trips, recovery
after a crash (torn tail, lost ack), the byte bound, one process per directory."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptomonitor.exceptions import ConfigError
from cryptomonitor.ingest import spool
from cryptomonitor.models import Tick
from tests.support.helpers import tick

MB = 10**6


def polls(n: int, per_poll: int = 3) -> list[list[Tick]]:
    return [
        [tick(i, 100.0 + i + j / 7, symbol=f"coin{j}") for j in range(per_poll)] for i in range(n)
    ]


def drain(s: spool.Spool, batch: int = 10**6) -> list[Tick]:
    out: list[Tick] = []
    while s.pending:
        ticks, token = s.peek(batch)
        out.extend(ticks)
        s.commit(token)
    return out


_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=1e-300, max_value=1e300)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.datetimes(
                min_value=dt.datetime(2009, 1, 3),
                max_value=dt.datetime(2200, 1, 1),
                timezones=st.just(dt.UTC),
            ),
            st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20),
            _floats,
            st.none() | _floats,
            st.sampled_from(["coingecko", "binance"]),
            st.none() | st.just(0.0) | _floats,
        ),
        min_size=1,
        max_size=20,
    )
)
def test_ticks_read_back_exactly_from_disk(
    tmp_path: pathlib.Path, rows: list[tuple[object, ...]]
) -> None:
    ticks = [Tick(*r) for r in rows]  # type: ignore[arg-type]
    directory = tmp_path / f"s{abs(hash(tuple(rows)))}"
    s = spool.Spool(directory, 10 * MB)
    s.append(ticks)
    s.close()
    again = spool.Spool(directory, 10 * MB)  # a new process: from disk, not memory
    assert list(again) == ticks
    again.close()


def test_what_was_not_committed_is_there_after_a_restart_in_order(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 10 * MB, segment_bytes=16 * 1024)
    written = polls(500)
    for p in written:
        s.append(p)
    first, token = s.peek(300)
    s.commit(token)
    s.close()  # (a kill -9 leaves the same files: every append was fsynced)
    again = spool.Spool(tmp_path, 10 * MB, segment_bytes=16 * 1024)
    everything = [t for p in written for t in p]
    assert first == everything[: len(first)]
    assert drain(again, 500) == everything[len(first) :]
    assert len(list(tmp_path.glob("*.seg"))) == 1  # committed segments are deleted
    again.close()


def test_a_torn_last_record_is_cut_and_the_rest_kept(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 10 * MB)
    for p in polls(5):
        s.append(p)
    s.close()
    segment = max(tmp_path.glob("*.seg"))
    whole = segment.stat().st_size
    with segment.open("ab") as f:  # a crash in the middle of the next append
        f.write(spool.encode(polls(6)[5])[:17])
    again = spool.Spool(tmp_path, 10 * MB)
    assert list(again) == [t for p in polls(5) for t in p]
    assert segment.stat().st_size == whole
    again.append(polls(7)[6])  # and it goes on
    assert again.pending == 18
    again.close()


def test_a_lost_ack_stores_again_what_was_stored(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 10 * MB)
    for p in polls(4):
        s.append(p)
    drain(s)
    s.close()
    assert (tmp_path / "ack").read_text() == "4\n"
    (tmp_path / "ack").unlink()  # a power loss before the rename reached the disk
    again = spool.Spool(tmp_path, 10 * MB)
    assert again.pending == 12  # stored twice then: the database skips what it holds
    again.close()


def test_past_the_bound_the_oldest_are_dropped_and_counted(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 1 * MB, segment_bytes=128 * 1024)
    for p in polls(1000, per_poll=40):
        s.append(p)
    assert s.dropped > 0 and s.pending + s.dropped == 40_000
    assert sum(f.stat().st_size for f in tmp_path.glob("*.seg")) <= 1 * MB + 128 * 1024
    kept = list(s)
    assert kept[-1] == polls(1000, per_poll=40)[-1][-1]
    assert kept == sorted(kept, key=lambda t: t.time)  # the oldest went
    s.close()


def test_memory_holds_only_the_newest(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 10 * MB, memory_ticks=30)
    for p in polls(100):
        s.append(p)
    assert s._in_memory <= 30
    assert drain(s, 50) == [t for p in polls(100) for t in p]  # the rest from disk
    s.close()


def test_one_process_per_directory(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 10 * MB)
    with pytest.raises(ConfigError, match="in use by another process"):
        spool.Spool(tmp_path, 10 * MB)
    s.close()
    spool.Spool(tmp_path, 10 * MB).close()


def test_an_unusable_directory_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="CRYPTOMONITOR_SPOOL_DIR: cannot use"):
        spool.Spool(tmp_path / "file" / "spool", 10 * MB)


def test_a_segment_left_with_only_its_magic_is_started_afresh(tmp_path: pathlib.Path) -> None:
    s = spool.Spool(tmp_path, 10 * MB)
    s.append(polls(1)[0])
    s.close()
    with (tmp_path / f"{1:020d}.seg").open("wb") as f:  # a crash right after the magic
        f.write(spool.MAGIC)
    again = spool.Spool(tmp_path, 10 * MB)
    again.append(polls(2)[1])
    again.close()
    third = spool.Spool(tmp_path, 10 * MB)
    assert list(third) == polls(2)[0] + polls(2)[1]
    third.close()


def test_a_failed_append_leaves_nothing_behind(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spool.Spool(tmp_path, 10 * MB, memory_ticks=0)
    s.append(polls(1)[0])
    real_fsync = spool.os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        s.append(polls(2)[1])
    monkeypatch.setattr(spool.os, "fsync", real_fsync)
    s.append(polls(3)[2])
    assert list(s) == polls(3)[0] + polls(3)[2]  # read back from disk at the right offsets
    s.close()


def test_records_written_before_the_traded_volume_read_back() -> None:
    """A spool left by a version that wrote 5 fields a tick is stored after an upgrade."""
    payload = b'{"t":[[1700000000000000,"bitcoin",37000.5,1.5e10,"coingecko"]]}'
    assert spool.decode(payload) == [
        Tick(
            dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC),
            "bitcoin",
            37000.5,
            1.5e10,
            "coingecko",
            None,
        )
    ]
