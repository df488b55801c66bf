"""Compare the fastem/peer ratios of two saved pytest-benchmark runs; flag drops beyond noise.

pytest-benchmark compares absolute times, which on shared or different machines
move with the load and the hardware. The number that tracks fastem is its
ratio to the peer timed in alternation in the same run (``speedup`` and the
other ratios the benchmarks put in ``extra_info``), so this compares those::

    pytest bench/ --benchmark-save=before        # FASTEM_BENCH_FULL=1 for the issue's sizes
    ... change the code ...
    pytest bench/ --benchmark-save=after
    python bench/compare_ratios.py               # the two newest saved runs
    python bench/compare_ratios.py OLD.json NEW.json --tolerance 0.15

A ratio is flagged when the new median is below the old one by more than the
allowance: the larger of ``--tolerance`` and the spread the two runs measured
themselves (half the relative width of each ``*_range`` recorded beside the
ratio, added). The exit status is 1 when anything is flagged.
"""

import argparse
import glob
import json
import os
import sys

#: Ratios where larger is better, as the benchmarks record them in ``extra_info``.
RATIO_KEYS = (
    "speedup",
    "speedup_cpu",
    "speedup_vs_numpy",
    "speedup_vs_scipy",
    "fraction_of_gemm_peak",
    "fraction_of_gemm_peak_cpu",
    "fraction_of_peak",
    "rows_per_s_ratio",
)


def _load(path):
    with open(path) as f:
        data = json.load(f)
    return {b["fullname"]: b.get("extra_info", {}) for b in data.get("benchmarks", [])}


def _spread(info, key):
    """Half the relative width of the range recorded for ``key`` (0 if none)."""
    low_high = info.get(f"{key}_range")
    value = info.get(key)
    if not low_high or not value:
        return 0.0
    low, high = low_high
    return 0.5 * (high - low) / value


def compare(old, new, tolerance):
    """Rows ``(benchmark, key, old, new, change, allowance, flagged)`` for shared ratios."""
    rows = []
    for name in sorted(set(old) & set(new)):
        for key in RATIO_KEYS:
            a, b = old[name].get(key), new[name].get(key)
            if not isinstance(a, int | float) or not isinstance(b, int | float) or a <= 0:
                continue
            allowance = max(tolerance, _spread(old[name], key) + _spread(new[name], key))
            change = b / a - 1.0
            rows.append((name, key, a, b, change, allowance, change < -allowance))
    return rows


def _newest_two():
    files = sorted(glob.glob(os.path.join(".benchmarks", "*", "*.json")), key=os.path.getmtime)
    if len(files) < 2:
        sys.exit("need two saved runs (pytest --benchmark-save=NAME) or two JSON paths")
    return files[-2], files[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?", help="saved run (JSON); default the second newest")
    parser.add_argument("new", nargs="?", help="saved run (JSON); default the newest")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.10,
        help="smallest relative drop flagged (default 0.10)",
    )
    args = parser.parse_args(argv)
    old_path, new_path = (args.old, args.new) if args.new else _newest_two()
    rows = compare(_load(old_path), _load(new_path), args.tolerance)
    print(f"{old_path} -> {new_path}")
    for name, key, a, b, change, allowance, flagged in rows:
        mark = "DROP" if flagged else "ok"
        print(f"{mark:4} {name} {key}: {a:.4g} -> {b:.4g}", end=" ")
        print(f"({change:+.1%}, allowed -{allowance:.0%})")
    if not rows:
        print("no ratio recorded by both runs")
    return 1 if any(r[-1] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
