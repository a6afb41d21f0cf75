"""FlyMQ binary protocol v1: frames, opcodes and one codec class per request/response.

Pure code without I/O, shared by the TCP server and ``TcpTransport``. Importing this package
loads every opcode module, so ``REQUESTS``/``RESPONSES`` are complete.
"""

from flymq.protocol.frames import (CODEC_MASK, FLAG_BINARY, FLAG_GZIP, HEADER, HEADER_SIZE, MAGIC,
                                   MAX_PAYLOAD, VERSION, Frame, FrameDecoder, encode_frame,
                                   frame_payload, gzip_payload)
from flymq.protocol.opcodes import EXTENSION_OPS, Op, reply_op
from flymq.protocol.codec import Message as WireMessage, Reader, Writer
from flymq.protocol.messages import *  # noqa: F401,F403
from flymq.protocol.messages import REQUESTS, RESPONSES, ErrorResponse
from flymq.protocol.admin import *  # noqa: F401,F403
from flymq.protocol.delivery import *  # noqa: F401,F403
from flymq.protocol.groups import *  # noqa: F401,F403
from flymq.protocol.compat import *  # noqa: F401,F403 - the pyflymq.protocol surface
from flymq.protocol import compat as _compat

__all__ = [
    "MAGIC", "VERSION", "HEADER_SIZE", "MAX_PAYLOAD", "FLAG_BINARY", "FLAG_GZIP", "CODEC_MASK",
    "HEADER", "Frame", "FrameDecoder", "encode_frame", "frame_payload", "gzip_payload", "Op",
    "EXTENSION_OPS", "reply_op", "WireMessage", "Reader", "Writer", "REQUESTS", "RESPONSES",
    "ErrorResponse", "error_frame", *_compat.__all__,
]


def error_frame(text: str) -> bytes:
    """A complete ERROR frame (E-STRUCT, code 1, flags 0x01) carrying ``text``."""
    return encode_frame(Op.ERROR, ErrorResponse(text).encode())
