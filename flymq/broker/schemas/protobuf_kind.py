"""Protobuf subjects (the ``protobuf`` extra), at upstream's level: the definition is kept as
text (``.proto`` source, whitespace-normalised) and a message must be well-formed protobuf wire
format. Field types are not checked and evolutions are not compared (docs/schemas.md).
"""

from __future__ import annotations

from typing import Sequence

from flymq.broker.schemas.kinds import CompiledSchema, one_line
from flymq.errors import UnsupportedOperationError


class ProtobufSchema:
    def __init__(self, definition: bytes):
        try:
            from google.protobuf import empty_pb2, message
        except ImportError:
            raise UnsupportedOperationError(
                "Protobuf schemas need the protobuf package on the broker",
                hint="pip install 'flymq[protobuf]' where the broker runs.") from None
        self._empty, self._decode_error = empty_pb2.Empty, message.DecodeError
        self.canonical = " ".join(definition.decode("utf-8", "replace").split())

    def errors(self, value: bytes) -> list[str]:
        if not value:
            return ["$: empty message (protobuf)"]
        try:
            # an Empty message keeps every field as unknown: parsing checks the wire format only
            self._empty().ParseFromString(value)
        except self._decode_error as exc:
            return [f"$: invalid Protobuf wire format: {one_line(exc)} (protobuf)"]
        return []

    def valid(self, value: bytes) -> bool:
        return not self.errors(value)

    def all_valid(self, values: Sequence[bytes]) -> bool:
        return not any(map(self.errors, values))

    def reader_problems(self, writer: CompiledSchema) -> list[str]:
        return []
