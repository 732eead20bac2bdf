"""Length-prefixed JSON messages over pipes, with deadlines and size caps (both sides use it).

Every message from a process that ran model code is untrusted: the reader bounds its size and
time, and `ProtocolError` means "this peer is broken or lying: discard it".
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

_HEADER = struct.Struct("<I")


class ProtocolError(Exception):
    """A malformed, oversized or truncated message."""


def send(fd: int, obj: object) -> None:
    """Write one message to a blocking fd."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def send_nonblocking(fd: int, obj: object, deadline: float) -> None:
    """Write one message to an O_NONBLOCK fd whose reader may stall; TimeoutError at `deadline`."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(fd: int, deadline: float | None = None, limit: int = 1 << 26) -> dict:
    """Read one message (a JSON object). Raises EOFError, TimeoutError or ProtocolError."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > limit:
        raise ProtocolError(f"message of {size} bytes exceeds the {limit}-byte limit")
    try:
        obj = json.loads(_read_exact(fd, size, deadline))
    except ValueError as e:
        raise ProtocolError(f"bad JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a JSON object")
    return obj
