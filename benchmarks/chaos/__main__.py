"""``python -m benchmarks.chaos``: see `benchmarks.chaos` for the flags."""

from benchmarks.chaos.cli import main

main()
