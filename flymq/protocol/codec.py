"""Field primitives and the declarative message base shared by every opcode module.

A message class lists its wire fields in order with ``field(TYPE)``; encode/decode walk that
list. Every field type reads from a bounds-checked ``Reader`` so that a short or inconsistent
payload raises ``InvalidRequestError`` with the upstream texts (wire-protocol.md §4):
``buffer too small`` when the payload is shorter than the opcode's fixed minimum and
``invalid binary format`` when a field runs past the end. Hot-path messages override
``encode``/``decode`` with precompiled ``struct.Struct``s.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Callable, ClassVar, TypeVar

from flymq.errors import InvalidRequestError

__all__ = [
    "Reader", "Writer", "FieldType", "U8", "BOOL", "U16", "I32", "U32", "I64", "U64", "STR8",
    "STR16", "BYTES32", "REST", "List32", "List16", "Map32", "Map16", "Nested", "Sized",
    "Optional", "Message", "field", "message", "decode_error_prefix", "BUFFER_TOO_SMALL",
    "INVALID_FORMAT",
]

BUFFER_TOO_SMALL = "buffer too small"
INVALID_FORMAT = "invalid binary format"

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")


def _bad_utf8() -> InvalidRequestError:
    return InvalidRequestError("invalid binary format: string field is not valid UTF-8")


class Reader:
    """Sequential, bounds-checked reads over a payload (no copies until a field is taken)."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0):
        self.buf = data if isinstance(data, bytes) else bytes(data)
        self.pos = pos
        self.end = len(self.buf)

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _advance(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.end:
            raise InvalidRequestError(INVALID_FORMAT)
        self.pos = start + n
        return start

    def _num(self, s: struct.Struct) -> int:
        return s.unpack_from(self.buf, self._advance(s.size))[0]

    def u8(self) -> int: return self._num(_U8)
    def u16(self) -> int: return self._num(_U16)
    def i32(self) -> int: return self._num(_I32)
    def u32(self) -> int: return self._num(_U32)
    def i64(self) -> int: return self._num(_I64)
    def u64(self) -> int: return self._num(_U64)

    def bool(self) -> bool:
        return self.u8() == 1

    def raw(self, n: int) -> bytes:
        start = self._advance(n)
        return self.buf[start:start + n]

    def bytes32(self) -> bytes:
        return self.raw(self.u32())

    def _text(self, n: int) -> str:
        try:
            return self.raw(n).decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_utf8() from None

    def str8(self) -> str:
        return self._text(self.u8())

    def str16(self) -> str:
        return self._text(self.u16())

    def rest(self) -> bytes:
        return self.raw(self.end - self.pos)


class Writer:
    """Appends fields to one growing buffer."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def u8(self, v: int) -> None: self.buf += _U8.pack(v)
    def u16(self, v: int) -> None: self.buf += _U16.pack(v)
    def i32(self, v: int) -> None: self.buf += _I32.pack(v)
    def u32(self, v: int) -> None: self.buf += _U32.pack(v)
    def i64(self, v: int) -> None: self.buf += _I64.pack(v)
    def u64(self, v: int) -> None: self.buf += _U64.pack(v)

    def bool(self, v: bool) -> None:
        self.buf.append(1 if v else 0)

    def raw(self, v: bytes) -> None:
        self.buf += v

    def bytes32(self, v: bytes) -> None:
        self.u32(len(v))
        self.buf += v

    def _text(self, v: str, prefix: struct.Struct, limit: int) -> None:
        data = v.encode("utf-8")
        if len(data) > limit:
            raise InvalidRequestError(f"string too long for the wire: {len(data)} > {limit} bytes")
        self.buf += prefix.pack(len(data))
        self.buf += data

    def str8(self, v: str) -> None: self._text(v, _U8, 0xFF)
    def str16(self, v: str) -> None: self._text(v, _U16, 0xFFFF)


# --- field types ---------------------------------------------------------------------------

class FieldType:
    """How one field is written and read. ``min_size`` feeds the opcode minimum; ``spec``
    describes the type (e.g. ``("list32", STR16)``) for documentation and test generators."""

    __slots__ = ("min_size", "read", "write", "default", "spec")

    def __init__(self, min_size: int, read: Callable[[Reader], Any],
                 write: Callable[[Writer, Any], None], default: Any = None,
                 spec: tuple = ()):
        self.min_size, self.read, self.write, self.default = min_size, read, write, default
        self.spec = spec

    def __repr__(self) -> str:
        return f"FieldType{self.spec}"


U8 = FieldType(1, Reader.u8, Writer.u8, 0, ("u8",))
BOOL = FieldType(1, Reader.bool, Writer.bool, False, ("bool",))
U16 = FieldType(2, Reader.u16, Writer.u16, 0, ("u16",))
I32 = FieldType(4, Reader.i32, Writer.i32, 0, ("i32",))
U32 = FieldType(4, Reader.u32, Writer.u32, 0, ("u32",))
I64 = FieldType(8, Reader.i64, Writer.i64, 0, ("i64",))
U64 = FieldType(8, Reader.u64, Writer.u64, 0, ("u64",))
STR8 = FieldType(1, Reader.str8, Writer.str8, "", ("str8",))
STR16 = FieldType(2, Reader.str16, Writer.str16, "", ("str16",))
BYTES32 = FieldType(4, Reader.bytes32, Writer.bytes32, b"", ("bytes32",))
REST = FieldType(0, Reader.rest, Writer.raw, b"", ("rest",))


def _counted(count: FieldType, item: FieldType) -> FieldType:
    def read(r: Reader) -> list:
        n = count.read(r)
        if n * item.min_size > r.remaining:   # reject absurd counts before allocating
            raise InvalidRequestError(INVALID_FORMAT)
        return [item.read(r) for _ in range(n)]

    def write(w: Writer, values: list) -> None:
        count.write(w, len(values))
        for v in values:
            item.write(w, v)
    return FieldType(count.min_size, read, write, None, (f"list{count.min_size * 8}", item))


def List32(item: FieldType) -> FieldType:  # noqa: N802 - reads like a type
    """``u32`` count, then the items."""
    return _counted(U32, item)


def List16(item: FieldType) -> FieldType:  # noqa: N802
    """``u16`` count, then the items (SDK audit layout only)."""
    return _counted(U16, item)


def _map(count: FieldType) -> FieldType:
    pairs = _counted(count, Nested(_Pair))

    def read(r: Reader) -> dict[str, str]:
        return {p.key: p.value for p in pairs.read(r)}

    def write(w: Writer, m: dict[str, str]) -> None:
        pairs.write(w, [_Pair(k, v) for k, v in m.items()])
    return FieldType(count.min_size, read, write, None, (f"map{count.min_size * 8}",))


def Map32(_: None = None) -> FieldType:  # noqa: N802
    """``u32`` count of (``str16`` key, ``str16`` value) pairs."""
    return _map(U32)


def Map16(_: None = None) -> FieldType:  # noqa: N802
    return _map(U16)


def Nested(cls: type["Message"]) -> FieldType:  # noqa: N802
    """An embedded structure, written field after field with no prefix."""
    return FieldType(cls.MIN_SIZE, cls.read_from, lambda w, v: v.write_to(w), None,
                     ("nested", cls))


def Sized(cls: type["Message"]) -> FieldType:  # noqa: N802
    """An embedded structure preceded by its ``u32`` byte length (Go audit layouts)."""
    def read(r: Reader) -> "Message":
        body = r.bytes32()
        if len(body) < cls.MIN_SIZE:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        return cls.read_from(Reader(body))

    def write(w: Writer, v: "Message") -> None:
        w.bytes32(v.encode())
    return FieldType(4, read, write, None, ("sized", cls))


def Optional(inner: FieldType, default: Any = None) -> FieldType:  # noqa: N802
    """A trailing field read only when enough bytes remain (§4 rule 3); None is not written."""
    def read(r: Reader) -> Any:
        return inner.read(r) if r.remaining >= inner.min_size and r.remaining else default

    def write(w: Writer, v: Any) -> None:
        if v is not None:
            inner.write(w, v)
    return FieldType(0, read, write, default, ("optional", inner))


# --- messages ------------------------------------------------------------------------------

M = TypeVar("M", bound="Message")


def field(ftype: FieldType, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """A dataclass field carrying its wire type; mutable defaults become factories."""
    if isinstance(default, (list, dict)):
        factory = type(default)
        return dataclasses.field(default_factory=factory, metadata={"wire": ftype}, **kw)
    return dataclasses.field(default=default, metadata={"wire": ftype}, **kw)


class Message:
    """Base of every request/response/structure: ``encode()`` and ``decode(payload)``."""

    __slots__ = ()
    WIRE: ClassVar[tuple[tuple[str, FieldType], ...]] = ()
    MIN_SIZE: ClassVar[int] = 0

    def write_to(self, w: Writer) -> None:
        for name, ftype in self.WIRE:
            value = getattr(self, name)
            try:
                ftype.write(w, value)
            except (struct.error, TypeError, AttributeError, OverflowError, UnicodeError):
                # a value of the wrong type, or out of its field's range: say which field
                raise InvalidRequestError(
                    f"invalid {name.replace('_', ' ')}: {value!r}",
                    hint="Its type or size does not fit the request field; see the API "
                         "reference.") from None

    def encode(self) -> bytes:
        w = Writer()
        self.write_to(w)
        return w.getvalue()

    @classmethod
    def read_from(cls: type[M], r: Reader) -> M:
        return cls(*[ftype.read(r) for _, ftype in cls.WIRE])

    @classmethod
    def decode(cls: type[M], payload: bytes | bytearray | memoryview) -> M:
        """Parse a whole payload; trailing bytes are ignored (§4 rule 2)."""
        if len(payload) < cls.MIN_SIZE:
            raise InvalidRequestError(BUFFER_TOO_SMALL)
        return cls.read_from(Reader(payload))

    @classmethod
    def decode_exact(cls: type[M], payload: bytes) -> M | None:
        """Parse only if the layout consumes the payload exactly, else None (layout probing)."""
        if len(payload) < cls.MIN_SIZE:
            return None
        r = Reader(payload)
        try:
            msg = cls.read_from(r)
        except InvalidRequestError:
            return None
        return msg if r.remaining == 0 else None


def message(cls: type[M] | None = None, *, min_size: int | None = None) -> Any:
    """Turn a class with ``field(...)`` annotations into a slotted dataclass message."""
    def wrap(c: type[M]) -> type[M]:
        dc = dataclasses.dataclass(slots=True)(c)
        dc.WIRE = tuple((f.name, f.metadata["wire"]) for f in dataclasses.fields(dc)
                        if "wire" in f.metadata)
        dc.MIN_SIZE = min_size if min_size is not None else sum(t.min_size for _, t in dc.WIRE)
        return dc
    return wrap if cls is None else wrap(cls)


def decode_error_prefix(prefix: str) -> Callable[[type[M]], type[M]]:
    """Prefix the wire text of decode errors of one message class, for the opcodes whose
    upstream error texts carry one (``invalid auth request: buffer too small``, §5.6). The
    exception message stays the bare decode error."""
    def wrap(cls: type[M]) -> type[M]:
        inner = cls.decode.__func__  # type: ignore[attr-defined]

        def decode(klass: type[M], payload: bytes | bytearray | memoryview) -> M:
            try:
                return inner(klass, payload)
            except InvalidRequestError as exc:
                raise InvalidRequestError(exc.message, wire=prefix + exc.wire) from None
        cls.decode = classmethod(decode)  # type: ignore[assignment]
        return cls
    return wrap


@message
class _Pair(Message):
    key: str = field(STR16)
    value: str = field(STR16)
