"""What every benchmark shares: where results go and what they say about their run (`results`), and the
resumable, gzipped run logs of the long experiments (`runlog`)."""

from benchmarks.common.results import REPO, RESULTS, SCRATCH, host, output_path, provenance, shown, write_json
from benchmarks.common.runlog import RunLog

__all__ = ["REPO", "RESULTS", "SCRATCH", "RunLog", "host", "output_path", "provenance", "shown", "write_json"]
