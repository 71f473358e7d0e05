"""``python -m benchmarks.chaos_learning``: see `benchmarks.chaos_learning` for the flags."""

from benchmarks.chaos_learning.cli import main

main()
