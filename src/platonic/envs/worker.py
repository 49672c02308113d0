"""The model worker: ``python -m platonic.envs.worker``, run by the parent inside an isolated env.

It loads one model once and then answers messages (:mod:`platonic.envs.frames`) on stdin/stdout
until the parent sends ``close`` or closes the pipe:

* ``load``   {family: "module:Class", name, device} -> the model's card, supported elements and
  batch sizes, and where this worker's platonic and python are (for the parent's checks);
* ``embed``  structures -> one float32 (n_atoms, dim) array per structure (``EmbeddingModel.embed``);
* ``energy`` structures -> one float64 array of energies (``EmbeddingModel.energy_forward``);
* ``close``  -> exit 0.

Every failure is answered as ``{ok: false, type, message, traceback, unsupported, oom}`` and the
worker goes on; the parent raises it as a :class:`~platonic.errors.PlatonicError`. The frames own
the original stdout: file descriptor 1 is pointed at stderr first, so whatever the model code
prints cannot corrupt them.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import numpy as np


def _load(header: dict):
    module, _, qualname = header["family"].partition(":")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls(header["name"], device=header.get("device", "cpu"))


def _error(exc: BaseException) -> dict:
    from platonic.models.base import UnsupportedStructureError

    message = str(exc)
    return {"ok": False, "type": type(exc).__name__, "message": message, "traceback": traceback.format_exc(),
            "unsupported": isinstance(exc, UnsupportedStructureError),
            "oom": "out of memory" in message.lower() or type(exc).__name__ == "OutOfMemoryError"}


def serve(inp, out) -> int:
    """Answer messages from ``inp`` on ``out`` until ``close`` or end of input; the exit status."""
    import platonic
    from platonic.envs.frames import PROTOCOL, arrays_structures, receive, send

    model = None
    while True:
        try:
            header, arrays = receive(inp)
        except EOFError:
            return 0  # the parent went away: nothing left to answer
        op = header.get("op")
        try:
            if header.get("protocol", PROTOCOL) != PROTOCOL:
                raise RuntimeError(f"protocol {header.get('protocol')} from the parent, {PROTOCOL} here: "
                                   "parent and environment run different platonic versions")
            if op == "load":
                model = _load(header)
                numbers = model.supported_numbers
                send(out, {"ok": True, "card": model.card.to_dict(),
                           "supported_numbers": None if numbers is None else sorted(int(z) for z in numbers),
                           "cpu_batch_atoms": int(model.cpu_batch_atoms), "gpu_batch_atoms": int(model.gpu_batch_atoms),
                           "platonic_file": str(os.path.realpath(platonic.__file__)),
                           "platonic_version": platonic.__version__, "python": sys.executable,
                           "prefix": sys.prefix, "pid": os.getpid()})
            elif op in ("embed", "energy"):
                if model is None:
                    raise RuntimeError(f"{op} before load")
                structures = arrays_structures(arrays)
                if op == "embed":
                    send(out, {"ok": True}, model.embed(structures))
                else:
                    send(out, {"ok": True}, [np.asarray(model.energy_forward(structures), dtype=np.float64)])
            elif op == "close":
                send(out, {"ok": True})
                return 0
            else:
                raise RuntimeError(f"unknown request {op!r}")
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
            send(out, _error(exc))


def main() -> int:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # model code that prints now writes to stderr, never into the frames
    inp = os.fdopen(os.dup(0), "rb")
    return serve(inp, out)


if __name__ == "__main__":
    sys.exit(main())
