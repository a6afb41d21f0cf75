"""Reads over damaged segments: the records before the damage, then a precise error; zero
padding after the last batch of a sealed segment is its end, not damage."""

import logging
import os
import random

import pytest

from flymq.broker.storage import Record
from flymq.broker.storage.cache import BATCH_CACHE
from flymq.broker.storage.check import check_log, repair_log
from flymq.errors import CorruptRecordError

CFG = dict(segment_bytes=4096, index_interval_bytes=256)
PER_BATCH = 5
TRIALS = int(os.environ.get("FLYMQ_DAMAGE_TRIALS", "24"))  # random damage trials (more: set it)


def fill(open_log, batches=90):
    log = open_log(**CFG)
    for i in range(batches):
        log.append([Record(b"value-%d-%d" % (i, j)) for j in range(PER_BATCH)])
    return log


def segments(tmp_path):
    return sorted((tmp_path / "p").glob("*.log"))


def read_on(log, offset, max_records):
    """Every record from ``offset`` by reads of ``max_records``, as a consumer reads."""
    out = []
    while offset < log.end_offset:
        got = log.read(offset, max_records=max_records)
        out += got
        offset = got[-1].offset + 1
    return out


@pytest.mark.parametrize("padding", [1, 100, 5000])
def test_zero_padding_after_a_sealed_segment_loses_nothing(open_log, tmp_path, padding):
    log = fill(open_log)
    end = log.end_offset
    log.close()
    first = segments(tmp_path)[0]
    assert len(segments(tmp_path)) > 2
    with open(first, "ab") as f:
        f.write(b"\0" * padding)
    log = open_log(**CFG)
    BATCH_CACHE.clear()
    assert [r.offset for r in read_on(log, 0, 7)] == list(range(end))
    assert [r.offset for r in log.read(0, max_records=10**6, max_bytes=1 << 30)] == \
        list(range(end))


def test_a_flipped_bit_gives_the_records_before_then_the_exact_range(open_log, tmp_path):
    log = fill(open_log)
    log.close()
    seg = segments(tmp_path)[1]
    base = int(seg.stem)
    data = bytearray(seg.read_bytes())
    batch_size = len(data) // ((int(segments(tmp_path)[2].stem) - base) // PER_BATCH)
    data[3 * batch_size + 30] ^= 0x10   # a bit of the fourth batch's header, under its CRC
    seg.write_bytes(bytes(data))
    log = open_log(**CFG)
    BATCH_CACHE.clear()
    bad = base + 3 * PER_BATCH
    got = log.read(base - 2, max_records=100)
    assert [r.offset for r in got] == list(range(base - 2, bad))   # across the segment edge
    for offset in (bad, bad + 2):
        with pytest.raises(CorruptRecordError) as caught:
            log.read(offset)
        exc = caught.value
        assert (exc.topic, exc.partition) == ("t", 0)
        assert (exc.first_offset, exc.end_offset) == (bad, bad + PER_BATCH)
        assert (exc.position, exc.end_position) == (3 * batch_size, 4 * batch_size)
        assert f"offsets {bad}-{bad + PER_BATCH - 1} unreadable" in str(exc)
    after = log.read(bad + PER_BATCH, max_records=10**6, max_bytes=1 << 30)  # skipping it
    assert [r.offset for r in after] == list(range(bad + PER_BATCH, log.end_offset))


def test_damage_up_to_the_end_of_a_sealed_segment(open_log, tmp_path):
    log = fill(open_log)
    log.close()
    seg, following = segments(tmp_path)[1:3]
    base, next_base = int(seg.stem), int(following.stem)
    data = seg.read_bytes()
    one = len(data) // ((next_base - base) // PER_BATCH)
    seg.write_bytes(data[:one] + b"\0" * (len(data) - one))  # zeros over batches, not padding
    log = open_log(**CFG)
    BATCH_CACHE.clear()
    assert log.read(base)[0].offset == base
    with pytest.raises(CorruptRecordError) as caught:
        read_on(log, base, 1000)
    assert (caught.value.first_offset, caught.value.end_offset) == (base + PER_BATCH, next_base)
    assert caught.value.end_position == len(data)
    assert log.read(next_base)[0].offset == next_base


def test_recovery_says_what_it_cuts(open_log, tmp_path, caplog):
    log = fill(open_log, 10)
    log.close()
    [seg] = segments(tmp_path)
    with open(seg, "ab") as f:
        f.write(b"\x01" * 30)                          # a torn append after the checkpoint
    with caplog.at_level(logging.WARNING, logger="flymq.broker.storage.log"):
        log = open_log(**CFG)
    assert log.end_offset == 50
    assert f"t/0: recovery cuts 30 bytes at byte {seg.stat().st_size} of {seg} (offset 50 on):" \
        f" an unfinished write" in caplog.text
    log.close()

    caplog.clear()
    data = bytearray(seg.read_bytes())
    batch_size = len(data) // 10
    data[4 * batch_size + 40] ^= 0x01                  # damage that sound batches follow
    seg.write_bytes(bytes(data))
    (tmp_path / "p" / "recovery-checkpoint").unlink()  # so recovery scans the whole segment
    with caplog.at_level(logging.WARNING, logger="flymq.broker.storage.log"):
        log = open_log(**CFG)
    assert log.end_offset == 20
    assert f"at byte {4 * batch_size} of {seg} (offset 20 on): sound batches follow it from " \
        f"byte {5 * batch_size} (offset 25) and are dropped with it" in caplog.text


def test_producer_state_is_read_past_padding_and_damage(open_log, tmp_path):
    log = open_log(**CFG)
    for i in range(90):
        log.append([Record(b"value-%02d-%d" % (i, j)) for j in range(PER_BATCH)],
                   producer_id=7, producer_epoch=0, base_sequence=i * PER_BATCH)
    last_base = int(segments(tmp_path)[-1].stem)
    log.truncate(last_base)      # an empty active segment: the state is read from the sealed one
    log.close()
    sealed = segments(tmp_path)[-2]
    data = bytearray(sealed.read_bytes())
    data[10] ^= 0x40             # the first batch's length: damage in the middle
    sealed.write_bytes(bytes(data) + b"\0" * 100)
    log = open_log(**CFG)
    assert log.tail_producers()[-1] == (7, 0, last_base - PER_BATCH, PER_BATCH,
                                        last_base - PER_BATCH)


def _damaged_log(open_log, tmp_path, rnd):
    """A log of 150 batches (multi-record ones between runs of singles), closed, with a bit
    flip or a run of zeros in a random segment; the offsets of the batches it touched."""
    log = open_log(**CFG)
    batches = []   # (first offset, count) of every batch
    for i in range(150):
        n = PER_BATCH if i % 3 == 0 else 1
        base = log.end_offset
        log.append([Record(b"r%06d" % (base + j)) for j in range(n)])
        batches.append((base, n))
    end = log.end_offset
    log.close()
    files = segments(tmp_path)
    seg = rnd.choice(files)
    data = bytearray(seg.read_bytes())
    lo = rnd.randrange(len(data))
    if rnd.random() < 0.5:
        data[lo] ^= 1 << rnd.randrange(8)
        hi = lo + 1
    else:
        hi = min(len(data), lo + rnd.randrange(1, 300))
        data[lo:hi] = bytes(hi - lo)
    seg.write_bytes(bytes(data))
    BATCH_CACHE.clear()
    return end, _touched(seg, batches, files, lo, hi)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_random_damage_never_hides_sound_records_or_returns_damaged_ones(open_log, tmp_path,
                                                                         trial):
    """A consumer that skips each reported range reads every record of every untouched
    batch, exactly, and nothing else."""
    rnd = random.Random(trial)
    end, touched = _damaged_log(open_log, tmp_path, rnd)
    log = open_log(**CFG)
    got, lost, offset = [], set(), 0
    while offset < log.end_offset:
        try:
            records = log.read(offset, max_records=rnd.choice((1, 7, 500)))
        except CorruptRecordError as exc:
            assert exc.first_offset == offset < exc.end_offset
            lost.update(range(exc.first_offset, exc.end_offset))
            offset = exc.end_offset
            continue
        got += records
        offset = records[-1].offset + 1
    assert all(r.value == b"r%06d" % r.offset for r in got)
    assert log.end_offset == end   # fsynced (checkpointed) bytes are never cut, only reported
    assert lost <= touched and lost | {r.offset for r in got} == set(range(end))


@pytest.mark.parametrize("trial", range(TRIALS // 2))
def test_repair_drops_exactly_the_damaged_batches(open_log, tmp_path, trial):
    """After ``flymq inspect --repair`` (check_log + repair_log) the log reads through: the
    untouched records, fillers (control records) for the damaged offsets, nothing else."""
    rnd = random.Random(1000 + trial)
    end, touched = _damaged_log(open_log, tmp_path, rnd)
    check = check_log(tmp_path / "p", verify=True)
    repair_log(check)
    assert check_log(tmp_path / "p", verify=True).first_problem is None
    log = open_log(**CFG)
    records = log.read(0, max_records=10**6, max_bytes=1 << 30)
    assert [r.offset for r in records] == list(range(log.end_offset))
    assert all(r.value == b"r%06d" % r.offset for r in records if not r.control)
    assert {r.offset for r in records if r.control} | set(range(log.end_offset, end)) <= touched


def _touched(seg, batches, files, lo, hi):
    """The offsets of the batches of ``seg`` overlapping bytes ``[lo, hi)``."""
    first = int(seg.stem)
    later = [int(f.stem) for f in files if int(f.stem) > first]
    end = later[0] if later else 1 << 62
    pos, out = 0, set()
    for base, n in batches:
        if not first <= base < end:
            continue
        size = 56 + 4 * n + 7 * n
        if pos < hi and lo < pos + size:
            out.update(range(base, base + n))
        pos += size
    return out
