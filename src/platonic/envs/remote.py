"""A model that runs in an isolated environment, seen from the parent as any other adapter.

:class:`IsolatedModel` starts ``<env>/bin/python -m platonic.envs.worker``, asks it to load the
model once, and forwards :meth:`embed` and :meth:`energy_forward` batches over the pipe. The
extraction runner cannot tell it from an in-process adapter: it reads the card (the worker's, with
the worker's package versions, so the store's fingerprint is that of the code that ran), checks
elements against the worker's list, and writes the shards itself, with the same resume and
checksums. A structure the worker's model refuses arrives as
:class:`~platonic.models.base.UnsupportedStructureError`; any other failure as
:class:`WorkerError` carrying the worker's message (and its traceback as ``worker_traceback``).
Nothing falls back to the main environment.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import subprocess
import sys
import threading
import weakref

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from platonic.envs import Environment, checkout_root
from platonic.envs.frames import PROTOCOL, receive, send, structure_arrays
from platonic.errors import PlatonicError
from platonic.models.base import EmbeddingModel, ModelCard, UnsupportedStructureError

#: Lines of the worker's stderr kept for the message when it dies.
STDERR_TAIL = 30


class WorkerError(PlatonicError, RuntimeError):
    """A model worker that failed (its message), died, or does not match this platonic."""

    worker_traceback: str = ""


def _pump_stderr(stream, tail: collections.deque) -> None:
    """Forward the worker's stderr to ours (where the CLI collects third-party chatter), keeping a tail."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        tail.append(line.rstrip("\n"))
        try:
            sys.stderr.write(line)
        except (ValueError, OSError):  # our stderr was closed (end of a captured test): keep the tail only
            pass
    stream.close()


def _shutdown(proc: subprocess.Popen) -> None:
    """Close the pipe (the worker exits on end of input), then wait; kill one that hangs."""
    if proc.poll() is None:
        try:
            proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass


def _worker_environ() -> dict[str, str]:
    """The worker's environment variables: ours, without anything that could put the main
    environment's packages on its path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    root = checkout_root()
    if root is not None:
        # Run this very checkout's platonic (src/ holds nothing else), whatever the env was made from.
        env["PYTHONPATH"] = str(root / "src")
    return env


class IsolatedModel(EmbeddingModel):
    """``name`` of ``family`` loaded by a worker process in ``env`` (see the module docstring)."""

    def __init__(self, family: type[EmbeddingModel], name: str, env: Environment, device: str = "cpu"):
        super().__init__(device)
        self.name, self.env = name, env
        python = env.require()
        self._tail: collections.deque = collections.deque(maxlen=STDERR_TAIL)
        self._lock = threading.Lock()
        self._proc = subprocess.Popen([str(python), "-m", "platonic.envs.worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_worker_environ())
        self._pump = threading.Thread(target=_pump_stderr, args=(self._proc.stderr, self._tail), daemon=True)
        self._pump.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._proc)
        reply, _ = self._call({"op": "load", "family": f"{family.__module__}:{family.__qualname__}",
                               "name": name, "device": device})
        self._check_same_platonic(reply)
        self.worker = {k: reply[k] for k in ("python", "prefix", "pid", "platonic_version")}
        card = ModelCard.from_dict(reply["card"], where=f"card sent by the worker of {name}")
        note = f"run in isolated environment {env.name!r} ({reply['prefix']})"
        self.card = dataclasses.replace(card, notes="; ".join(filter(None, [card.notes, note])))
        numbers = reply["supported_numbers"]
        self._numbers = None if numbers is None else frozenset(numbers)
        self.cpu_batch_atoms, self.gpu_batch_atoms = reply["cpu_batch_atoms"], reply["gpu_batch_atoms"]

    def _check_same_platonic(self, reply: dict) -> None:
        from pathlib import Path

        import platonic

        here = Path(os.path.realpath(platonic.__file__))
        if checkout_root() is not None and Path(reply["platonic_file"]) != here:
            self.close()
            raise WorkerError(f"the worker in environment {self.env.name!r} runs platonic from {reply['platonic_file']}, "
                              f"not this checkout's {here}")
        if reply["platonic_version"] != platonic.__version__:
            self.close()
            raise WorkerError(f"environment {self.env.name!r} has platonic {reply['platonic_version']}, this is "
                              f"{platonic.__version__}: recreate it with `{self.env.create_command}`")

    def _died(self, exc: BaseException) -> WorkerError:
        try:
            code = self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        self._pump.join(timeout=5)  # the whole stderr, up to the end
        tail = "\n".join(self._tail) or "(nothing on stderr)"
        return WorkerError(f"the worker for {self.name} in environment {self.env.name!r} (pid {self._proc.pid}) "
                           f"stopped with exit code {code} ({type(exc).__name__}: {exc}); its last stderr lines:\n{tail}")

    def _call(self, header: dict, arrays=()) -> tuple[dict, list[np.ndarray]]:
        with self._lock:
            if self._proc.poll() is not None and self._proc.stdin.closed:
                raise WorkerError(f"the worker for {self.name} in environment {self.env.name!r} was closed")
            try:
                send(self._proc.stdin, {**header, "protocol": PROTOCOL}, arrays)
                reply, out = receive(self._proc.stdout)
            except (EOFError, OSError) as exc:  # BrokenPipeError is an OSError
                raise self._died(exc) from None
        if reply.get("ok"):
            return reply, out
        message = reply.get("message", "")
        if reply.get("unsupported"):
            raise UnsupportedStructureError(message)
        if reply.get("type") in ("NotImplementedError", "FileNotFoundError"):
            raise {"NotImplementedError": NotImplementedError, "FileNotFoundError": FileNotFoundError}[reply["type"]](message)
        error = WorkerError(f"{self.name} in environment {self.env.name!r}: {reply.get('type')}: {message}")
        error.worker_traceback = reply.get("traceback", "")
        raise error

    @property
    def supported_numbers(self) -> frozenset[int] | None:
        return self._numbers

    def _embed_batch(self, structures) -> list[np.ndarray]:
        _, arrays = self._call({"op": "embed"}, structure_arrays(structures))
        return arrays

    def energy_forward(self, structures) -> np.ndarray:
        _, arrays = self._call({"op": "energy"}, structure_arrays(structures))
        return arrays[0]

    def calculator(self):
        """An energy-only ASE calculator backed by the worker (for dimer curves)."""
        return _WorkerCalculator(self)

    def close(self) -> None:
        """Stop the worker (also done when this object is garbage-collected)."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _WorkerCalculator(Calculator):
    implemented_properties = ["energy"]

    def __init__(self, model: IsolatedModel):
        super().__init__()
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, properties, system_changes or all_changes)
        self.results = {"energy": float(self.model.energy_forward([self.atoms])[0])}
