"""Out of memory, said in the cell's words: which cell, which seed(s), on which device, and how much was asked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from sciml.errors import ConfigError


class CellOutOfMemory(ConfigError):
    """A cell asked for more memory than its device has: the cell as configured does not fit this machine."""


#: what allocators say when they run out (torch's CPU and CUDA allocators, numpy)
_OUT_OF_MEMORY = re.compile(r"out of memory|not enough memory|can't allocate memory|tried to allocate|"
                            r"unable to allocate", re.IGNORECASE)
_ASKED = (re.compile(r"tried to allocate (\d+) bytes", re.IGNORECASE),  # torch CPU: a byte count
          re.compile(r"(?:tried|unable) to allocate ([\d.]+ ?[KMGTPE]i?B)", re.IGNORECASE))  # CUDA, numpy


def asked_memory(message: str) -> str:
    """How much memory an allocator's message says was asked for, in words."""
    found = _ASKED[0].search(message)
    if found:
        return f"{int(found.group(1)) / 2**30:.3g} GiB"
    found = _ASKED[1].search(message)
    return found.group(1) if found else "an amount the allocator did not say"


@contextmanager
def memory_named(cell: Callable[[], str], device: torch.device, seeds: str) -> Iterator[None]:
    """Turn an allocator's out-of-memory error into one naming the cell, the seed(s) and the memory asked for."""
    try:
        yield
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not (isinstance(error, (MemoryError, torch.OutOfMemoryError)) or _OUT_OF_MEMORY.search(str(error))):
            raise
        said = (str(error).strip().splitlines() or [""])[0]
        raise CellOutOfMemory(
            f"training cell {cell()} ({seeds}) ran out of memory on {device}: it tried to allocate "
            f"{asked_memory(str(error))}. Use a smaller model, fewer points or samples, or a machine with more "
            f"memory (the allocator said: {type(error).__name__}: {said})"
        ) from error
