"""``python -m benchmarks.gossip``: see `benchmarks.gossip` for the flags."""

from benchmarks.gossip.cli import main

main()
