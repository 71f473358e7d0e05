"""Out-of-memory backoff: run a step at a micro-batch size, halve it on an OOM error and run it again.

    sizes = MicroBatch(64, what="update", model="smollm2-135m", device=torch.device("cuda"))
    stats = sizes.run(lambda size: step_at(groups, size), rows=128)   # 64, then 32, 16, ... on OOM

The step must be redoable: it may have started (allocated, accumulated gradients) before the error, so
it has to start from the same state every time it is called (generation re-seeds each row; the update
zeroes gradients and takes no optimizer step before all its micro-batches passed). The size found
stays for later calls, so one OOM does not repeat every round. Each backoff is logged once, as one
warning naming the sizes; giving up raises `OutOfMemory` naming the model, the batch and the memory.

References: accelerate `utils/memory.py` (`find_executable_batch_size`), which halves the same way.
"""

from __future__ import annotations

import gc
import logging
from typing import Callable, TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)} - {None}
)
"""torch's out-of-memory exceptions (torch.OutOfMemoryError is torch.cuda.OutOfMemoryError in recent torch)."""


class OutOfMemory(RuntimeError):
    """Raised when a step still runs out of memory at micro-batch 1. Not raised for any other error:
    those propagate unchanged, and an OOM at a larger size is retried, never raised."""


class MicroBatch:
    """The micro-batch size of one kind of step (generation or the update) and its backoff."""

    def __init__(self, size: int | None, *, what: str, model: str, device: torch.device,
                 on_oom: Callable[[], None] | None = None) -> None:
        self.size = size
        """Rows per micro-batch; None: all rows of a call at once (until an OOM sets a number)."""
        self.what, self.model, self.device, self.on_oom = what, model, device, on_oom
        self.backoffs = 0
        """OOM errors survived so far (each halved `size`)."""

    def run(self, step: Callable[[int], T], rows: int) -> T:
        """`step(size)` for a call of `rows` rows, halving size after each OOM until it succeeds or 1 failed."""
        first = size = max(1, min(self.size or rows, rows))
        while True:
            failed = False
            try:
                result = step(size)
            except OOM_ERRORS as err:
                if size == 1:
                    raise OutOfMemory(self._give_up_message(first, rows, err)) from err
                failed = True
            if failed:  # outside the except block, so the error's frames (and their tensors) are gone
                self._release()
                size, self.size = size // 2, size // 2
                self.backoffs += 1
                continue
            if size != first:
                logger.warning("%s of %s ran out of %s memory at micro-batch %d of %d rows; redone at %d "
                               "(kept for later rounds)", self.what, self.model, self.device, first, rows, size)
            return result

    def _release(self) -> None:
        if self.on_oom is not None:
            self.on_oom()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _give_up_message(self, first: int, rows: int, err: BaseException) -> str:
        return (f"{self.what} of model {self.model} ran out of memory on {self.device} at every micro-batch from "
                f"{first} down to 1 (batch of {rows} rows; {memory_summary(self.device)}): choose a smaller model "
                f"(--model auto picks one that fits), set model.lora, or lower model.max_new_tokens. "
                f"torch said: {str(err).splitlines()[0][:300] if str(err) else type(err).__name__}")


def memory_summary(device: torch.device) -> str:
    """"x GiB allocated, peak y GiB of z GiB" on cuda; the device name elsewhere."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return f"{device.type} memory"
    gib = 1024**3
    total = torch.cuda.get_device_properties(device).total_memory
    return (f"{torch.cuda.memory_allocated(device) / gib:.1f} GiB allocated, "
            f"peak {torch.cuda.max_memory_allocated(device) / gib:.1f} GiB of {total / gib:.1f} GiB")
