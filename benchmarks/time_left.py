"""How good the run's estimate of the time left was, from its log file (prints figures).

    python benchmarks/time_left.py logs/kedro.log [--after 0.2] [--min-left 20]

Reads every estimate a ``kedro run`` logged (each stack epoch's "run about m:ss
left", logged at DEBUG to the log file, and each node line's "about m:ss left"),
and compares it with the time the run then really had left (up to its "Finished
... nodes" line). Counts the estimates made after ``--after`` of the run that fall
within ±30 % of the truth, over those made with more than ``--min-left`` seconds
to go (a few seconds' error is a large fraction of the last seconds), and prints
the range of the errors and every estimate outside ±30 %. The log holds one run:
start from an empty ``logs/kedro.log`` (``conf/logging.yml`` rotates, it does not
truncate). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

STAMP = "%Y-%m-%d %H:%M:%S,%f"
ESTIMATE = re.compile(
    r"(?:run about|elapsed \d+:\d+(?::\d+)?, about) (?:(\d+):)?(\d+):(\d+) left"
)
FINISHED = re.compile(r"Finished \d+ of \d+ nodes")


def _time(line: str) -> dt.datetime:
    return dt.datetime.strptime(line[:23], STAMP)


def estimates(lines: list[str]) -> tuple[float, list[tuple[float, float, float]]]:
    """The run's length and ``(elapsed, estimated left, actual left)`` per estimate."""
    stamped = [line for line in lines if line[:4].isdigit()]
    if not stamped:
        raise ValueError("no time-stamped lines: is this conf/logging.yml's log file?")
    start, end, found = _time(stamped[0]), None, []
    for line in stamped:
        if match := ESTIMATE.search(line):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            found.append((_time(line), 3600 * hours + 60 * minutes + seconds))
        if FINISHED.search(line):
            end = _time(line)
    if end is None:
        raise ValueError("the run did not finish: no 'Finished ... nodes' line")
    total = (end - start).total_seconds()
    return total, [
        ((t - start).total_seconds(), left, (end - t).total_seconds())
        for t, left in found
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--after", type=float, default=0.2)
    parser.add_argument("--min-left", type=float, default=20.0)
    args = parser.parse_args()
    lines = args.log.read_text(encoding="utf-8").splitlines()
    total, points = estimates(lines)
    late = [p for p in points if p[0] >= args.after * total and p[2] > 0]
    errors = [(e, left, actual, (left - actual) / actual) for e, left, actual in late]
    counted = [x for x in errors if x[2] > args.min_left]
    within = [x for x in counted if abs(x[3]) <= 0.3]
    print(f"run {total:.0f} s; {len(errors)} estimates after {args.after:.0%} of it")
    print(
        f"within ±30 % with more than {args.min_left:.0f} s left: "
        f"{len(within)} of {len(counted)}"
    )
    if errors:
        low, high = min(x[3] for x in errors), max(x[3] for x in errors)
        print(f"error range, all of them: {low:+.0%} to {high:+.0%}")
    for elapsed, left, actual, error in errors:
        if abs(error) > 0.3:
            print(
                f"  at {elapsed:.0f} s: {left:.0f} s left estimated, {actual:.0f} s "
                f"actual ({error:+.0%})"
            )


if __name__ == "__main__":
    main()
