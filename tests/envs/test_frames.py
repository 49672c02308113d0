"""The wire format of the model workers: frames and messages round-trip bit for bit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from ase.build import bulk, molecule

from platonic.envs.frames import (
    FrameError,
    arrays_structures,
    read_frame,
    receive,
    send,
    structure_arrays,
    write_frame,
)
from platonic.errors import PlatonicError


def test_messages_round_trip_bit_for_bit():
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(7, 128)).astype(np.float32),
        np.array([np.nan, -0.0, np.inf, 1e-45], dtype=np.float32),  # NaN, signed zero, subnormal survive
        rng.integers(-5, 5, size=(3, 2, 4)),
        np.zeros((0, 16), dtype=np.float64),
        np.array([True, False, True]),
        np.asfortranarray(rng.normal(size=(4, 3))),
    ]
    stream = io.BytesIO()
    send(stream, {"op": "embed", "note": "é"}, arrays)
    send(stream, {"ok": True})
    stream.seek(0)
    header, out = receive(stream)
    assert header == {"op": "embed", "note": "é", "arrays": len(arrays)}
    for a, b in zip(arrays, out):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    assert np.signbit(out[1][1]) and np.isnan(out[1][0])
    assert receive(stream) == ({"ok": True, "arrays": 0}, [])
    with pytest.raises(EOFError):
        receive(stream)


def test_frame_length_is_an_8_byte_big_endian_prefix():
    stream = io.BytesIO()
    write_frame(stream, b"abc")
    assert stream.getvalue() == b"\x00" * 7 + b"\x03abc"
    stream.seek(0)
    assert read_frame(stream) == b"abc"


def test_truncated_or_foreign_input_is_refused():
    stream = io.BytesIO()
    send(stream, {"op": "x"}, [np.arange(10)])
    whole = stream.getvalue()
    with pytest.raises(EOFError, match="pipe closed after"):
        receive(io.BytesIO(whole[:-3]))
    junk = io.BytesIO()
    write_frame(junk, b"not json")
    junk.seek(0)
    with pytest.raises(FrameError, match="not this protocol"):
        receive(junk)
    # An array frame that is not .npy, and an object array (it would need pickle), are refused.
    bad = io.BytesIO()
    write_frame(bad, b'{"arrays": 1}')
    write_frame(bad, b"\x93NUMPY garbage")
    bad.seek(0)
    with pytest.raises(PlatonicError):
        receive(bad)
    with pytest.raises(ValueError, match="pickle"):
        send(io.BytesIO(), {}, [np.array([{"a": 1}], dtype=object)])


def test_structures_cross_exactly():
    cell = bulk("NaCl", "rocksalt", a=5.64).repeat((2, 1, 1))
    cell.rattle(0.1, seed=0)
    gas = molecule("H2O")  # no cell, no periodicity
    slab = bulk("Cu", "fcc", a=3.61)
    slab.pbc = [True, True, False]
    back = arrays_structures(structure_arrays([cell, gas, slab]))
    for a, b in zip([cell, gas, slab], back):
        assert a.numbers.tolist() == b.numbers.tolist()
        assert a.positions.tobytes() == b.positions.tobytes()
        assert a.cell[:].tobytes() == b.cell[:].tobytes()
        assert a.pbc.tolist() == b.pbc.tolist()
    with pytest.raises(FrameError, match="4 each"):
        arrays_structures([np.zeros(3)] * 5)
