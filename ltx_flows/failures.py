"""Which failures are worth another attempt.

Transient: the GPU ran out of memory (a retry lowers memory settings) or a connection
dropped. Everything else (bad input, a broken checkpoint, a bug) fails at once: retrying
would only fail again, later.
"""

import gc
import sys
import traceback


def is_out_of_memory(error: BaseException) -> bool:
    # torch is looked up, not imported: if nothing imported it, nothing raised its error (and a
    # process that only checks caches never pays for the import). Older code paths and other
    # backends (MPS) raise a plain RuntimeError saying so.
    torch = sys.modules.get("torch")
    return (torch is not None and isinstance(error, torch.OutOfMemoryError)) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def is_transient(error: BaseException) -> bool:
    return is_out_of_memory(error) or isinstance(error, (ConnectionError, TimeoutError))


def describe(error: BaseException) -> str:
    """One line for logs, manifests and summaries: the error type and the first line of its message."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def release_memory(error: BaseException) -> None:
    """Free what a failed generation still holds, before the next attempt needs it.

    The traceback's frames keep the failed call's activations alive; on a GPU those are the
    gigabytes the next attempt needs.
    """
    traceback.clear_frames(error.__traceback__)
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
