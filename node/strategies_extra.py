"""An import alias: every built-in selection strategy is registered by `node.sampler` (see its registry).

Scripts that import this module to make "hardest", "fresh_uniform" or "peer_useful" available keep
working; nothing is registered here.

    >>> import node.strategies_extra
    >>> "hardest" in node.sampler.STRATEGIES
    True
"""

from __future__ import annotations

import node.sampler  # noqa: F401
