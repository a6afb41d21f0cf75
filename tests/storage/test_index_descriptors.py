"""Index files hold a descriptor only while among the most recently used (storage/index.py)."""

import os
import threading

import pytest

from flymq.broker.storage import index as index_module
from flymq.broker.storage.index import OffsetIndex, TimeIndex


@pytest.fixture
def few_open(monkeypatch):
    monkeypatch.setattr(index_module._OPEN, "limit", 8)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_many_indexes_work_with_few_descriptors(tmp_path, few_open):
    before = open_fds()
    indexes = [OffsetIndex(tmp_path / f"{i}.index") for i in range(100)]
    for round_ in range(3):
        for i, index in enumerate(indexes):
            index.append(round_, 1000 * i + round_)
    assert open_fds() - before <= 8 + 1
    for i, index in enumerate(indexes):
        assert [index.get(k) for k in range(3)] == [(r, 1000 * i + r) for r in range(3)]
        assert index.position_for(1) == (1, 1000 * i + 1)
        index.sync()
    for index in indexes:
        index.close()
    assert open_fds() <= before
    reopened = OffsetIndex(tmp_path / "42.index")
    assert len(reopened) == 3 and reopened.last() == (2, 42002)
    reopened.close()


def test_a_closed_index_refuses_use(tmp_path):
    index = TimeIndex(tmp_path / "t.timeindex")
    index.append(5, 0)
    index.close()
    with pytest.raises(ValueError):
        index.get(0)


@pytest.mark.timeout(60)
def test_readers_never_see_a_descriptor_closed_under_them(tmp_path, few_open):
    """Threads read and append while others force evictions: no EBADF, no wrong entry."""
    indexes = [OffsetIndex(tmp_path / f"{i}.index") for i in range(40)]
    for i, index in enumerate(indexes):
        for k in range(50):
            index.append(k, i * 100_000 + k)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(3000):
                i = (offset + n * 7) % len(indexes)
                k = n % 50
                assert indexes[i].get(k) == (k, i * 100_000 + k)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for index in indexes:
        index.close()
