"""Speed benchmark of the engines against torch.nn; the same as `lstmkit bench speed`.

Usage: python benchmarks/speed.py [--shapes 0 1] [--rows plain gru] [--threads 2] [--json F]
The latest table and the machine it ran on are in benchmarks/README.md.
"""

import sys

from lstmkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "speed", *sys.argv[1:]]))
