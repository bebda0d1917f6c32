#!/usr/bin/env python3
"""`scripts/bench.py tutorial`: wall time from `emunet up` to the end of the tutorial's last step.

It runs the tutorial as the test suite runs it (tests/e2e/test_tutorial.py: all 21
steps of WALKTHROUGH.md with the real kubectl, curl, openssl and a pty-driven
`kubectl run -i --tty`), so the figure is of the same commands that are checked,
including the cluster's start, and reports each step's share.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run() -> dict:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--durations=0", "--durations-min=0", "tests/e2e/test_tutorial.py"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    total = time.perf_counter() - t0
    if r.returncode != 0:
        print(r.stdout[-3000:])
        raise SystemExit("the tutorial failed; no figure")
    steps: dict[str, float] = {}
    for m in re.finditer(r"^([\d.]+)s (setup|call|teardown)\s+\S+::(test_\d+)\w*", r.stdout, re.M):
        steps[m.group(3)] = steps.get(m.group(3), 0.0) + float(m.group(1))
    up = sum(v for k, v in steps.items() if k == "test_01")
    # Step 1's setup is the cluster's start, so the steps' sum runs from `emunet up`
    # to the end of the last step; the rest of the wall time is pytest's own.
    tutorial = sum(steps.values())
    print(f"tutorial, 21 steps from `emunet up` to the end of the last step: {tutorial:.1f} s "
          f"(target <= 15 s); the whole pytest process: {total:.1f} s")
    for k in sorted(steps):
        print(f"  {k}: {steps[k]:.2f} s")
    return {"tutorial_s": tutorial, "process_s": total, "steps_s": steps, "cluster_up_s": up}


if __name__ == "__main__":
    run()
