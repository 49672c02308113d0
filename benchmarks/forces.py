"""Forces of every trained model on DFT-relaxed MP-20 structures, as a markdown table.

The same measure as the slow acceptance test ``tests/models/test_forces.py`` (median |F|
component < 0.06 eV/Å), from :mod:`platonic.models._forces`: for each model, the median and the
mean of |F_{i,alpha}| over all atoms and directions of ``--n`` MP-20 validation structures
(seed ``--seed``), through the package's own ASE calculator. Usage::

    OMP_NUM_THREADS=1 python benchmarks/forces.py --n 50 --out forces.md
"""

from __future__ import annotations

import argparse
import time

from platonic.models import DEFAULT_MODELS, family_of
from platonic.models._forces import force_summary

BOUND = 0.06  # eV/Å, the acceptance bound of the test


def main() -> None:
    trained = [n for n in DEFAULT_MODELS if family_of(n).variants[n].trained]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="MP-20 validation structures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(trained), help="default: every trained default model")
    parser.add_argument("--out", default=None, help="markdown file to write (rows are also printed as they finish)")
    args = parser.parse_args()

    lines = [f"| model | structures | atoms | median \\|F\\| (eV/Å) | mean \\|F\\| (eV/Å) | < {BOUND} |",
             "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for name in args.models.split(","):
        t0 = time.perf_counter()
        s = force_summary(name, args.n, args.seed)
        line = (f"| {name} | {s.structures} | {s.atoms:,} | {s.median:.4f} | {s.mean:.4f} | "
                f"{'yes' if s.median < BOUND else 'NO'} |")
        lines.append(line)
        print(line, f"<!-- {time.perf_counter() - t0:.0f} s -->", flush=True)
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
