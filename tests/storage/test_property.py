"""append/read/truncate/reopen against a plain list of records."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flymq.broker.storage import FsyncPolicy, LogConfig, PartitionLog, Record
from flymq.clock import ManualClock

records = st.builds(
    Record,
    value=st.binary(max_size=64),
    key=st.none() | st.binary(max_size=8),
    timestamp=st.integers(1, 2**40),
    headers=st.lists(st.tuples(st.text(max_size=4), st.binary(max_size=4)), max_size=2).map(tuple),
    expire_at=st.none() | st.integers(0, 2**40),
)
ops = st.lists(st.one_of(
    st.tuples(st.just("append"), st.lists(records, min_size=1, max_size=6), st.booleans()),
    st.tuples(st.just("truncate"), st.integers(0, 60)),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("read"), st.integers(0, 60), st.integers(1, 10)),
), max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_log_behaves_like_a_list(tmp_path_factory, ops):
    directory = tmp_path_factory.mktemp("prop")
    cfg = LogConfig(fsync=FsyncPolicy.NEVER, segment_bytes=1024, index_interval_bytes=64)
    clock = ManualClock()
    log = PartitionLog(directory, cfg, clock=clock)
    model: list[Record] = []
    try:
        for op in ops:
            if op[0] == "append":
                assert log.append(op[1], compression="lz4" if op[2] else None) == len(model)
                model += op[1]
            elif op[0] == "truncate":
                log.truncate(op[1])
                del model[op[1]:]
            elif op[0] == "reopen":
                log.close()
                log = PartitionLog(directory, cfg, clock=clock)
            else:
                offset, limit = op[1], op[2]
                if offset <= len(model):
                    got = log.read(offset, max_records=limit)
                    want = model[offset:offset + limit]
                    assert len(got) == len(want)
                    assert [(r.value, r.key, r.timestamp, r.headers, r.expire_at) for r in got] == \
                        [(r.value, r.key, r.timestamp, r.headers, r.expire_at) for r in want]
            assert log.end_offset == len(model)
        assert [r.value for r in log.read(0, max_records=10**4)] == [r.value for r in model]
    finally:
        log.close()
