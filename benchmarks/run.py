"""Run every benchmark (or the ones named) in sequence: `python -m benchmarks.run [--quick] [name ...]`.

Each benchmark is a module `benchmarks/bench_<name>.py` with `main(quick: bool) -> None` that prints its figures.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks


def discover() -> list[str]:
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data: checks the benchmarks run, figures are rough")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {discover()})")
    args = parser.parse_args(argv)
    names = args.names or discover()
    for name in names:
        start = time.perf_counter()
        importlib.import_module(f"benchmarks.bench_{name}").main(quick=args.quick)
        print(f"  ({name} took {time.perf_counter() - start:.0f} s)")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
