"""How long `pcapscan grade` takes on a class: N students x 18 small
captures cut from captures/golden (tests/gradeclass.py), graded in this
process (--jobs 1) and with worker processes (every core by default).

    python benchmarks/bench_grade.py                 # 100 students
    python benchmarks/bench_grade.py --students 300 --repeat 5

Prints the best wall-clock time of --repeat runs for each setting, and the
load average (other work on the machine slows the pool down).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from gradeclass import make_class  # noqa: E402

from pcapscan.grade import grade  # noqa: E402


def best_of(repeat: int, fn) -> tuple:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None, help="workers of the pooled run [default: every core]")
    args = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = make_class(Path(tmp) / "class", students=args.students)
        built = time.perf_counter() - start
        print(f"class: {args.students} students, built in {built:.2f} s; {cores} core(s); "
              f"load average {os.getloadavg()[0]:.2f}")
        for jobs in (1, args.jobs):
            seconds, book = best_of(args.repeat, lambda: grade(root, jobs=jobs))
            print(f"jobs={book.jobs}: {book.files} files in {seconds:.2f} s "
                  f"({book.files / seconds:.0f} files/s, best of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
