"""Run the sampler benchmarks: ``python benchmarks/run.py [models] [options]`` = ``antinb bench``."""

import sys

from antinb.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
