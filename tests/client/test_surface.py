"""Import surface: flymq and its pyflymq alias, exceptions, models (no broker needed)."""

from __future__ import annotations

import builtins
import copy
import dataclasses
import importlib
import json
import pickle
import struct

import pytest

import flymq
import pyflymq
from flymq import RecordMetadata

SPEC_EXCEPTIONS = """FlyMQError ConnectionError ConnectionClosedError ConnectionTimeoutError
AuthenticationError ServerError TopicError TopicNotFoundError TopicAlreadyExistsError
ProducerError MessageTooLargeError ConsumerError OffsetOutOfRangeError ConsumerGroupError
TransactionError TransactionNotActiveError TransactionTimeoutError SchemaError
SchemaNotFoundError SchemaValidationError ClusterError NotLeaderError NoAvailableServerError
CryptoError EncryptionError DecryptionError InvalidKeyError""".split()


def test_version():
    assert flymq.__version__ == pyflymq.__version__ == "0.1.0"


def test_all_names_resolve_and_are_shared():
    for name in flymq.__all__:
        assert getattr(pyflymq, name) is getattr(flymq, name), name
    assert pyflymq.__all__ == flymq.__all__


def test_the_27_exceptions_are_exported():
    assert len(SPEC_EXCEPTIONS) == 27
    for name in SPEC_EXCEPTIONS:
        assert name in flymq.__all__
        assert issubclass(getattr(pyflymq, name), flymq.FlyMQError)
    assert flymq.ConnectionError is not builtins.ConnectionError
    assert issubclass(flymq.NoAvailableServerError, flymq.ConnectionError)


def test_timeout_error_lives_in_exceptions_only():
    from pyflymq.exceptions import TimeoutError as FlyTimeout

    assert "TimeoutError" not in flymq.__all__
    assert issubclass(FlyTimeout, builtins.TimeoutError)
    namespace: dict = {}
    exec("from pyflymq import *", namespace)
    assert "TimeoutError" not in namespace


@pytest.mark.parametrize("sub, target", [
    ("exceptions", "flymq.errors"), ("serde", "flymq.serde"), ("matcher", "flymq.matcher"),
    ("protocol", "flymq.protocol"), ("consumer", "flymq.client.consumer"),
    ("client", "flymq.client"),
])
def test_submodules_are_flymq_modules(sub, target):
    assert importlib.import_module(f"pyflymq.{sub}") is importlib.import_module(target)


def test_model_submodules_share_classes():
    import pyflymq.binary
    import pyflymq.models
    import pyflymq.tls
    import pyflymq.types

    assert pyflymq.types is pyflymq.models
    assert pyflymq.models.ConsumedMessage is flymq.ConsumedMessage
    assert pyflymq.models.ClientConfig is flymq.ClientConfig
    assert pyflymq.binary.RecordMetadata is RecordMetadata
    assert pyflymq.tls.TLSConfig is flymq.TLSConfig
    assert pyflymq.client.FlyMQClient is flymq.FlyMQClient


@pytest.mark.parametrize("module", ["pyflymq.crypto", "pyflymq.reactive"])
def test_unimplemented_modules_say_so(module):
    with pytest.raises(ImportError, match=rf"{module} is not implemented by flymq yet"):
        importlib.import_module(module)


def test_unimplemented_names_fail_only_when_used():
    with pytest.raises(AttributeError, match=r"Encryptor \(pyflymq.crypto\)"):
        pyflymq.Encryptor
    with pytest.raises(AttributeError):
        pyflymq.NoSuchThing


def test_lazy_names():
    assert pyflymq.OpCode.PRODUCE == 0x01
    assert pyflymq.SubscribeMode.COMMIT == "commit"


# --- RecordMetadata as an int -------------------------------------------------------------

def test_record_metadata_is_its_offset():
    m = RecordMetadata("t", 2, 7, timestamp=1, key_size=-1, value_size=3)
    assert m == 7 and m + 1 == 8 and m // 2 == 3 and m > 6 and int(m) == 7
    assert str(m) == "7" and f"{m}" == "7" and f"{m:03d}" == "007"
    assert repr(m).startswith("RecordMetadata(topic='t', partition=2, offset=7")
    assert struct.pack(">Q", m) == struct.pack(">Q", 7)
    assert json.dumps(m) == "7" and list(range(m))[-1] == 6
    assert dataclasses.asdict(m)["partition"] == 2
    assert m == RecordMetadata("t", 2, 7, 1, -1, 3) and m != RecordMetadata("t", 1, 7, 1, -1, 3)
    assert hash(m) == hash(7)
    assert pickle.loads(pickle.dumps(m)) == m and copy.deepcopy(m) == m


def test_record_metadata_fields_change_but_its_offset_never_disagrees_with_its_value():
    m = RecordMetadata("t", 2, 7)
    m.partition, m.timestamp = 3, 99
    assert (m.partition, m.timestamp, m) == (3, 99, 7)
    with pytest.raises(AttributeError, match="dataclasses.replace"):
        m.offset = 10
    moved = dataclasses.replace(m, offset=10)
    assert moved == 10 and moved.offset == 10 and str(moved) == "10" and moved.partition == 3


def test_consumed_message_equals_bytes():
    msg = flymq.ConsumedMessage("t", 0, 0, b"x")
    assert msg == b"x" and msg == bytearray(b"x") and msg != b"y"


def test_cluster_metadata_helpers():
    p = flymq.PartitionInfo(1, leader_id="n1", isr=["n1"])
    meta = flymq.ClusterMetadata("c", [flymq.TopicPartitionInfo("t", [p])])
    assert meta.get_partition_leader("t", 1) is p and p.leader == "n1"
    assert p.in_sync_replicas == ["n1"] and meta.get_topic_partitions("x") == []


def test_configs_validate():
    assert flymq.ConsumerConfig(auto_offset_reset=flymq.SubscribeMode.EARLIEST
                                ).auto_offset_reset == "earliest"
    with pytest.raises(ValueError):
        flymq.ConsumerConfig(auto_offset_reset="middle")
    assert flymq.ProducerConfig(acks=flymq.AckMode.LEADER).acks == "leader"
    with pytest.raises(ValueError):
        flymq.ProducerConfig(acks="some")
