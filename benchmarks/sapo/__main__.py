"""``python -m benchmarks.sapo``: see `benchmarks.sapo` for the flags."""

from benchmarks.sapo.cli import main

main()
