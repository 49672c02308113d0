"""The writer lock of a store: one extraction per store (or per worker slot of a job array).

``<store>/locks/store.lock`` is held exclusively by an extraction that takes every shard
(``num_shards=1``) and shared by the workers of a job array (``num_shards > 1``), each of
which also holds ``locks/worker-<i>-of-<n>.lock`` exclusively. So a second full extraction,
or a second worker with the same slot, fails at once naming the holder's PID (or waits, when
asked), while the workers of one job array still fill the store side by side.

The locks are ``fcntl.flock`` locks: the kernel drops them when the holder exits, even by
``kill -9``, so a crashed run never leaves the store locked. They hold between processes of
one machine (and on NFS only where the server supports ``flock``).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from platonic.store.store import StoreError

LOCK_DIR = "locks"


class StoreLockedError(StoreError):
    """Another process is writing into this store (the message names its PID)."""


class LockFileError(StoreError):
    """The lock file cannot be created or opened (a read-only store, say)."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text or "PID unknown"


def _held(path: Path, operation: int) -> bool:
    """Whether another open file description holds a lock on ``path`` that conflicts with ``operation``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe lock, if it was taken
    return False


def _holders(directory: Path) -> list[str]:
    """Who holds the store's locks now, from the PID lines their holders wrote."""
    found = []
    store_lock = directory / "store.lock"
    if store_lock.exists() and _held(store_lock, fcntl.LOCK_SH):
        found.append(_holder(store_lock))
    for worker in sorted(directory.glob("worker-*.lock")):
        if _held(worker, fcntl.LOCK_EX):
            found.append(f"{_holder(worker)} as {worker.stem}")
    return found


def _acquire(path: Path, operation: int, wait: bool, root: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise LockFileError(f"{root}: cannot create the writer lock {path} ({error.strerror})") from error
    try:
        fcntl.flock(fd, operation if wait else operation | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holders = _holders(path.parent) or ["PID unknown"]
        raise StoreLockedError(
            f"{root} is being written by another extraction ({'; '.join(holders)}). Wait for it "
            "to finish, or pass --wait-for-lock (wait_for_lock=True) to start when it has."
        ) from None
    return fd


def _sign(fd: int) -> None:
    """Write this process's PID, host and start time into a lock file it holds exclusively."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)


@contextmanager
def writer_lock(root: str | os.PathLike, shard_index: int = 0, num_shards: int = 1, wait: bool = False) -> Iterator[None]:
    """Hold the writer lock of the store at ``root`` for the ``with`` block.

    Raises
    ------
    StoreLockedError
        If another process holds a conflicting lock and ``wait`` is false.
    LockFileError
        If the lock file cannot be created (e.g. a read-only store).
    """
    root = Path(root)
    directory = root / LOCK_DIR
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LockFileError(f"{root}: cannot create {directory} for the writer lock ({error.strerror})") from error
    descriptors = []
    try:
        if num_shards == 1:
            descriptors.append(_acquire(directory / "store.lock", fcntl.LOCK_EX, wait, root))
            _sign(descriptors[-1])
        else:
            descriptors.append(_acquire(directory / "store.lock", fcntl.LOCK_SH, wait, root))
            worker = directory / f"worker-{shard_index}-of-{num_shards}.lock"
            descriptors.append(_acquire(worker, fcntl.LOCK_EX, wait, root))
            _sign(descriptors[-1])
        yield
    finally:
        for fd in reversed(descriptors):
            os.close(fd)
