
import pytest

from flymq.broker.storage import Record
from flymq.errors import CorruptRecordError

CFG = dict(segment_bytes=4096, index_interval_bytes=256)


def batch(i):
    return [Record(b"value-%d-%d" % (i, j), key=b"k%d" % j) for j in range(3)]


def fill(open_log, batches=40):
    log = open_log(**CFG)
    for i in range(batches):
        log.append(batch(i))
    return log


def files(tmp_path, suffix):
    return sorted((tmp_path / "p").glob("*" + suffix))


def assert_prefix(log, batches):
    """The log holds exactly the first ``batches`` batches, intact, and appends continue."""
    assert log.end_offset == 3 * batches
    got = log.read(0, max_records=10**6, max_bytes=1 << 30) if batches else []
    assert [r.value for r in got] == [r.value for i in range(batches) for r in batch(i)]
    assert log.append(batch(999)) == 3 * batches


def test_truncated_tail_at_every_byte_of_last_batch(open_log, tmp_path):
    log = fill(open_log, 4)
    last = files(tmp_path, ".log")[-1]
    before = last.stat().st_size
    log.append([Record(b"z")])
    log.close()
    full = last.read_bytes()
    for cut in range(before, len(full)):
        last.write_bytes(full[:cut])
        (tmp_path / "p" / "recovery-checkpoint").unlink(missing_ok=True)
        log = open_log(**CFG)
        assert log.end_offset == 12, cut
        assert [r.offset for r in log.read(0, max_records=100)] == list(range(12))
        log.close()


def test_zero_filled_tail_is_cut(open_log, tmp_path):
    log = fill(open_log, 10)
    log.close()
    with open(files(tmp_path, ".log")[-1], "ab") as f:
        f.write(b"\0" * 5000)
    log = open_log(**CFG)
    assert_prefix(log, 10)


def test_flipped_bit_after_checkpoint_truncates_there(open_log, tmp_path):
    log = fill(open_log, 10)
    log.flush()
    checkpointed = log.end_offset
    for i in range(10, 14):
        log.append(batch(i))
    seg = files(tmp_path, ".log")[-1]
    data = bytearray(seg.read_bytes())
    data[-60] ^= 0x10            # inside the last batch, which is after the checkpoint
    seg.write_bytes(bytes(data))
    # simulate a crash: do not close, just reopen from the files
    log2 = open_log(**CFG)
    assert log2.end_offset == 13 * 3 and checkpointed <= 13 * 3
    assert_prefix(log2, 13)


def test_flipped_bit_in_old_segment_is_reported_at_read(open_log, tmp_path):
    log = fill(open_log, 60)
    log.close()
    old = files(tmp_path, ".log")[0]
    data = bytearray(old.read_bytes())
    data[len(data) // 2] ^= 0x01
    old.write_bytes(bytes(data))
    log = open_log(**CFG)
    assert log.end_offset == 180       # recovery does not scan what the checkpoint covers
    good = log.read(0, max_records=10**6, max_bytes=1 << 30)  # the records before the damage
    assert good and [r.offset for r in good] == list(range(len(good)))
    with pytest.raises(CorruptRecordError) as caught:
        log.read(len(good))
    assert (caught.value.first_offset, caught.value.end_offset) == (len(good), len(good) + 3)
    # the intact segments stay readable
    assert log.read(log.end_offset - 3)[0].value == b"value-59-0"


@pytest.mark.parametrize("suffix", [".index", ".timeindex"])
def test_deleted_index_files_are_rebuilt(open_log, tmp_path, suffix):
    log = fill(open_log, 100)
    before = [f.read_bytes() for f in files(tmp_path, suffix)]
    log.close()
    assert len(before) > 2 and any(before)
    for f in files(tmp_path, suffix):
        f.unlink()
    log = open_log(**CFG)
    assert_prefix(log, 100)
    log.close()
    after = [f.read_bytes() for f in files(tmp_path, suffix)]
    assert after[:len(before) - 1] == before[:-1]
    assert log is not None


def test_stale_index_entries_are_not_trusted(open_log, tmp_path):
    log = fill(open_log, 8)
    log.close()
    index = files(tmp_path, ".index")[-1]
    with open(index, "ab") as f:          # entries pointing past the end of the log
        f.write((5).to_bytes(4, "little") + (10**6).to_bytes(4, "little"))
    log = open_log(**CFG)
    assert_prefix(log, 8)


def test_garbage_index_entry_only_costs_a_scan(open_log, tmp_path):
    log = fill(open_log, 8)
    log.close()
    index = files(tmp_path, ".index")[-1]
    data = index.read_bytes()
    assert data
    index.write_bytes((1).to_bytes(4, "little") + (17).to_bytes(4, "little") + data[8:])
    log = open_log(**CFG)
    assert [r.offset for r in log.read(4, max_records=4)] == [4, 5, 6, 7]


def test_checkpoint_limits_the_scan(open_log, tmp_path, monkeypatch):
    log = fill(open_log, 30)
    log.close()
    from flymq.broker.storage import batch as batch_mod
    from flymq.broker.storage import segment as segment_mod
    checked = []
    original = batch_mod.batch_crc_ok
    monkeypatch.setattr(segment_mod, "batch_crc_ok", lambda *a: checked.append(1) or original(*a))
    log = open_log(**CFG)
    # a clean open CRC-checks only the batches after the last index entry (a damaged header
    # there must not mislead the end offset), never the log
    batch_size = sum(f.stat().st_size for f in files(tmp_path, ".log")) // 30
    assert log.end_offset == 90 and 0 < len(checked) <= CFG["index_interval_bytes"] // batch_size + 1


def test_missing_checkpoint_still_recovers(open_log, tmp_path):
    log = fill(open_log, 30)
    log.close()
    (tmp_path / "p" / "recovery-checkpoint").unlink()
    log = open_log(**CFG)
    assert_prefix(log, 30)
