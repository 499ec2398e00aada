"""What a first touch of fresh memory costs here, against writing the same memory again.

Run `python benchmarks/probes/first_touch.py [--GB 0.5 2 5] [--rounds 2] [--threads 2]`.
Each (size, round) is a fresh subprocess that allocates `size` GB with torch.empty, fills it
(every page faulted in: the kernel zeroes it, and on a virtual machine the host may have to
back it first), then fills it again (no faults); it prints seconds per GB of both fills and
the minor page faults of the first. Rounds run back to back, so a later round of a size
gets the pages the earlier one gave back to the kernel: if only the first round is slow, the
cost is the host's first backing of guest memory (it then depends on what ran before, not
on T); if every round is slow, it is the guest's own page faulting.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def child(gigabytes: float) -> dict:
    import torch

    n = int(gigabytes * 2**30 / 4)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = torch.empty(n)
    start = time.perf_counter()
    buffer.fill_(1.0)
    first = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    start = time.perf_counter()
    buffer.fill_(2.0)
    again = time.perf_counter() - start
    return {"first_s_per_gb": first / gigabytes, "again_s_per_gb": again / gigabytes,
            "faults": faults}  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        import torch

        torch.set_num_threads(int(sys.argv[3]))
        print(json.dumps(child(float(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--GB", type=float, nargs="+", default=[0.5, 2.0, 5.0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"threads {args.threads}, load average {os.getloadavg()}")
    print(f"{'GB':>5} {'round':>5} {'first touch s/GB':>17} {'again s/GB':>11} {'faults':>9}")
    for size in args.GB:
        for r in range(args.rounds):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(size), str(args.threads)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{size:5.1f} {r + 1:5d} {row['first_s_per_gb']:17.3f} "
                  f"{row['again_s_per_gb']:11.3f} {row['faults']:9d}", flush=True)  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
