"""The wire format between platonic and a model worker: length-prefixed frames over a pipe.

A *frame* is an 8-byte big-endian unsigned length followed by that many bytes. A *message* is one
frame of UTF-8 JSON (the header) followed by ``header["arrays"]`` frames, each one array in NumPy's
``.npy`` format (``allow_pickle=False``: only plain numeric arrays cross, bit for bit, dtype and
shape included, so a float32 embedding arrives exactly as the worker computed it).

Structures cross as four arrays each: atomic numbers (int64), positions (float64, Å), cell
(float64, 3x3) and pbc (bool, 3): everything the adapters read from an ``Atoms``.
"""

from __future__ import annotations

import io
import json
import struct
from typing import BinaryIO, Sequence

import numpy as np

from platonic.errors import PlatonicError

_LENGTH = struct.Struct(">Q")
#: Bumped whenever the messages change; parent and worker must agree.
PROTOCOL = 1


class FrameError(PlatonicError, RuntimeError):
    """A pipe that closed mid-message or carried something that is not a frame of this protocol."""


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError(f"pipe closed after {n - left} of {n} bytes")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)


def read_frame(stream: BinaryIO) -> bytes:
    (n,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size))
    return _read_exact(stream, n)


def array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def bytes_array(payload: bytes) -> np.ndarray:
    try:
        return np.lib.format.read_array(io.BytesIO(payload), allow_pickle=False)
    except ValueError as exc:
        raise FrameError(f"a frame that is not a plain .npy array: {exc}") from None


def send(stream: BinaryIO, header: dict, arrays: Sequence[np.ndarray] = ()) -> None:
    """One message: the header (``arrays`` is set to their count) and the arrays; then flush."""
    header = {**header, "arrays": len(arrays)}
    write_frame(stream, json.dumps(header).encode())
    for array in arrays:
        write_frame(stream, array_bytes(array))
    stream.flush()


def receive(stream: BinaryIO) -> tuple[dict, list[np.ndarray]]:
    """One message; ``EOFError`` if the pipe closed before its first byte or mid-message."""
    raw = read_frame(stream)
    try:
        header = json.loads(raw.decode())
        count = int(header["arrays"])
    except (ValueError, KeyError, TypeError):
        raise FrameError(f"a header frame that is not this protocol's JSON: {raw[:80]!r}") from None
    return header, [bytes_array(read_frame(stream)) for _ in range(count)]


def structure_arrays(structures) -> list[np.ndarray]:
    """Four arrays per ``Atoms``: numbers, positions, cell, pbc."""
    out = []
    for atoms in structures:
        out += [np.asarray(atoms.numbers, dtype=np.int64), np.asarray(atoms.positions, dtype=np.float64),
                np.asarray(atoms.cell[:], dtype=np.float64), np.asarray(atoms.pbc, dtype=bool)]
    return out


def arrays_structures(arrays: Sequence[np.ndarray]) -> list:
    """The ``Atoms`` that :func:`structure_arrays` wrote."""
    from ase import Atoms

    if len(arrays) % 4:
        raise FrameError(f"{len(arrays)} arrays do not make structures (4 each)")
    return [Atoms(numbers=arrays[i], positions=arrays[i + 1], cell=arrays[i + 2], pbc=arrays[i + 3])
            for i in range(0, len(arrays), 4)]
