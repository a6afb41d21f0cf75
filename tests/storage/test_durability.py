import os
import threading

from flymq.broker.storage import FsyncPolicy, Record


def count_fsyncs(monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    return calls


def test_always_fsyncs_before_returning(open_log, monkeypatch):
    log = open_log(fsync=FsyncPolicy.ALWAYS)
    calls = count_fsyncs(monkeypatch)
    log.append([Record(b"a")])
    assert calls and log._synced == 1


def test_group_commit_covers_many_appends_with_fewer_fsyncs(open_log, monkeypatch):
    log = open_log(fsync=FsyncPolicy.ALWAYS)
    calls = []
    gate = threading.Event()
    real = os.fsync

    def slow_fsync(fd):           # hold the leader in fsync until every writer has appended
        if threading.current_thread().name != "flymq-flusher":
            calls.append(fd)
        gate.wait(5)
        real(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    threads = [threading.Thread(target=log.append, args=([Record(b"%d" % i)],)) for i in range(8)]
    for t in threads:
        t.start()
    while log.end_offset < 8:
        threading.Event().wait(0.001)
    gate.set()
    for t in threads:
        t.join()
    assert log._synced == 8
    assert len(calls) == 2        # the first leader, then one fsync for all the others


def test_interval_flusher_fsyncs_dirty_logs_only(open_log, flusher, monkeypatch):
    log = open_log(fsync=FsyncPolicy.INTERVAL)
    idle = open_log(name="q", fsync=FsyncPolicy.INTERVAL)
    calls = count_fsyncs(monkeypatch)
    log.append([Record(b"a")])
    flusher.flush_due(now=10**9)
    assert calls and not idle.needs_flush() and not log.needs_flush()
    n = len(calls)
    flusher.flush_due(now=2 * 10**9)
    assert len(calls) == n       # nothing dirty, nothing fsynced


def test_never_does_not_fsync_appends(open_log, monkeypatch):
    log = open_log(fsync=FsyncPolicy.NEVER)
    calls = count_fsyncs(monkeypatch)
    for _ in range(10):
        log.append([Record(b"a")])
    assert calls == []


def test_concurrent_appends_and_reads_see_whole_batches(open_log):
    log = open_log(segment_bytes=8192, index_interval_bytes=256)
    errors = []

    def writer(tag):
        for i in range(200):
            log.append([Record(b"%s-%d-%d" % (tag, i, j)) for j in range(5)])

    def reader():
        try:
            seen = 0
            while seen < 2000:
                records = log.read(seen, max_records=500)
                for r in records:
                    assert r.offset == seen
                    seen += 1
                # a batch is 5 records written at once: a reader sees all of it or none
                assert seen % 5 == 0
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in (b"a", b"b")]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    values = [r.value for r in log.read(0, max_records=10**5, max_bytes=1 << 30)]
    for tag in (b"a", b"b"):
        mine = [v for v in values if v.startswith(tag)]
        assert mine == [b"%s-%d-%d" % (tag, i, j) for i in range(200) for j in range(5)]


def test_an_index_is_fsynced_only_when_it_changed(tmp_path, monkeypatch):
    """A flush of many partitions must not pay two fsyncs per partition for sparse indexes
    that did not change; a change made meanwhile is synced the next time."""
    from flymq.broker.storage.index import OffsetIndex

    index = OffsetIndex(tmp_path / "x.index")
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    index.sync()
    assert synced == []
    index.append(0, 0)
    index.sync()
    index.sync()
    assert len(synced) == 1
    index.truncate(0)
    index.sync()
    assert len(synced) == 2
    index.close()


def test_the_flusher_thread_survives_a_due_time_far_ahead(open_log, flusher):
    """A caller's own ``now`` far in the future once made the thread wait ~10^12 s, which
    Condition.wait cannot hold: the thread died and interval logs were never fsynced again."""
    log = open_log(fsync=FsyncPolicy.INTERVAL)
    log.append([Record(b"a")])
    assert flusher.flush_due(now=10**12) <= 1.0  # what the thread waits next, at most
