"""Model matrices loaded when asked for, so that a loop over many models holds a few at a time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np


class OnDemand(Mapping):
    """``name -> load(name)[rows]``, loaded at the first access and kept for the last ``keep`` names.

    A stage that compares every pair of models needs two matrices at a time, not all of them: with
    this mapping its memory is ``keep`` matrices whatever the number of models, at the price of
    reloading a matrix that fell out (a store's model loads in well under a second at MP-20 size).
    The matrices handed out are read-only, since the same array may be handed out again.

    Parameters
    ----------
    load : name -> 2-D array (e.g. :meth:`platonic.store.EmbeddingStore.load`, or ``np.load`` of a
        ``.npy`` with ``mmap_mode="r"``)
    names : the names the mapping holds, in its iteration order
    rows : optional row indices applied to every loaded matrix
    keep : how many loaded matrices are held (least recently used dropped first)
    """

    def __init__(self, load: Callable[[str], np.ndarray], names: Sequence[str], rows: np.ndarray | None = None,
                 keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.load, self.names, self.rows, self.keep = load, list(dict.fromkeys(names)), rows, keep
        self._held: OrderedDict[str, np.ndarray] = OrderedDict()
        self.loads = 0  # how many loads the mapping made (the cost of a small ``keep``)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        if name in self._held:
            self._held.move_to_end(name)
            return self._held[name]
        array = self.load(name)
        array = np.asarray(array if self.rows is None else array[self.rows]).view()
        array.flags.writeable = False
        self.loads += 1
        self._held[name] = array
        while len(self._held) > self.keep:
            self._held.popitem(last=False)
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names
