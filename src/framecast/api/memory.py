"""Keep the memory a request frees for the next request (glibc ``mallopt``).

A create carrying a photograph allocates several blocks of megabytes (the body, the parsed
string, the decoded bytes) and frees them a moment later. With glibc's defaults those blocks
are returned to the kernel and the next request faults fresh zeroed pages in again: a 12 MP
JPEG create took 18–19 ms, of which about 8 ms was page faults. With blocks up to
``MMAP_THRESHOLD_BYTES`` served from the heap and up to ``TRIM_THRESHOLD_BYTES`` of free
heap kept, it takes 10 ms (median of 30, one client, docs/benchmarks.md "Creates with
photographs"). The cost is memory held after a peak: at most the trim threshold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger("framecast.api")

M_TRIM_THRESHOLD = -1          # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024    # glibc's own ceiling for its dynamic threshold
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Tune this process's allocator as above; False where it is not glibc (nothing done)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        done = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and \
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    except (OSError, AttributeError) as exc:
        log.debug("mallopt is not available (%s)", exc)
        return False
    return done
