"""Benchmarks, one package (or, when small, one module) per experiment, each run as ``python -m benchmarks.<name>``
from the repository root. Each prints a table, writes JSON and compares against a baseline in the same run.

    python -m benchmarks.gossip --smoke       # every benchmark has a --smoke of under a minute (CI runs them all)

| name | what it compares |
|---|---|
| `codec` | encode+sign / verify+decode against plain json |
| `generation` | batched `Policy.generate` against one prompt at a time |
| `learning` | one tiny node alone for 100 rounds: its reward curve, last block over first |
| `gpu_round` | one round of a 494M node on CUDA against plain transformers (``--smoke``: on a CPU) |
| `fuzz` | atheris over decode, verify and TaskRef rebuild (needs ``.[fuzz]``) |
| `gossip` | the sharded transport against the reference one-key-per-round pattern |
| `chaos` | 8 transport processes under churn, partitions, skew, hostile records, floods, sybils |
| `chaos_learning` | real learning nodes under SIGKILL churn against a no-fault run |
| `sapo` | SAPO's headline table: sharing against isolation at equal settings |

Full runs write ``benchmarks/results/<name>/`` (committed, the latest result only; see its README);
``--smoke`` and ``--quick`` runs write to ``runs/benchmarks/<name>/`` (not tracked) unless ``--out``
names a file. `benchmarks.common` holds what they share: output paths, the provenance block every JSON
starts with (commit, command, date, package versions) and the gzipped run logs.
"""
