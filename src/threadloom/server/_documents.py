"""Deterministic content for the fault server: XML documents, filler bytes, latencies.

Everything here is a pure function of its arguments, so a test (or the fetch job's
tests) can compute the exact bytes and delay the server will produce for a document.
"""

from __future__ import annotations

import functools
import math
import random

#: Smallest and largest size of a generated document body, in bytes.
MIN_DOCUMENT_SIZE = 1024
MAX_DOCUMENT_SIZE = 20 * 1024

# Log-normal latency: median 20 ms; sigma 1.0 gives a heavy right tail (p99 ~ 200 ms),
# capped so one unlucky document cannot stall a demo. Scaled by the server's factor.
_LATENCY_MEDIAN = 0.020
_LATENCY_SIGMA = 1.0
_LATENCY_CAP = 2.0

_WORDS = (
    *("thread", "lock", "queue", "worker", "event", "barrier", "semaphore", "condition"),
    *("timer", "pool", "future", "deadlock", "livelock", "race", "join", "daemon"),
    *("fetch", "parse", "store", "retry", "backoff", "limit", "host", "latency"),
    *("stall", "drip", "reset", "redirect", "gzip", "trace", "span", "progress"),
)

# 64 KiB of printable filler, repeated by ``filler`` for /bytes and /huge.
_FILLER_BLOCK = bytes(33 + (i * 7 + i // 95) % 94 for i in range(64 * 1024))


def _rng(kind: str, seed: int, n: int) -> random.Random:
    # Seeding from a string hashes it with SHA-512: stable across runs and platforms,
    # unlike hash(), which is salted per process.
    return random.Random(f"{kind}:{seed}:{n}")


def document_size(n: int, seed: int) -> int:
    """Target size in bytes of document ``n`` for ``seed`` (the body is within a few bytes).

    Log-normally distributed (median about 4 KiB) and clipped to
    [``MIN_DOCUMENT_SIZE``, ``MAX_DOCUMENT_SIZE``].
    """
    size = int(_rng("size", seed, n).lognormvariate(math.log(4096), 0.7))
    return max(MIN_DOCUMENT_SIZE, min(MAX_DOCUMENT_SIZE, size))


@functools.lru_cache(maxsize=4096)
def document(n: int, seed: int) -> bytes:
    """The body of ``/docs/{n}.xml``: a well-formed UTF-8 XML document.

    The root element is ``<document id="n">`` holding a ``<title>`` and an ``<items>``
    element with ``<item>`` children; its length is ``document_size(n, seed)`` rounded up
    to the end of the last ``<item>`` plus the closing tags. Results are cached (the
    4096 most recent), so serving is cheap under benchmarks.
    """
    rng = _rng("doc", seed, n)
    target = document_size(n, seed)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<document id="{n}" seed="{seed}">\n',
        f"  <title>Document {n}: {' '.join(rng.choices(_WORDS, k=4))}</title>\n",
        "  <items>\n",
    ]
    closing = "  </items>\n</document>\n"
    length = sum(len(p) for p in parts) + len(closing)
    item = 0
    while length < target:
        text = " ".join(rng.choices(_WORDS, k=rng.randint(4, 16)))
        line = f'    <item n="{item}">{text}</item>\n'
        parts.append(line)
        length += len(line)
        item += 1
    parts.append(closing)
    return "".join(parts).encode("ascii")


def document_latency(n: int, seed: int, factor: float) -> float:
    """Seconds the server waits before answering ``/docs/{n}.xml``.

    Log-normal (median 20 ms, sigma 1.0, capped at 2 s) times ``factor``; 0.0 when
    ``factor`` is 0. Deterministic in ``(n, seed)``.
    """
    if factor <= 0:
        return 0.0
    delay = _rng("latency", seed, n).lognormvariate(math.log(_LATENCY_MEDIAN), _LATENCY_SIGMA)
    return min(delay, _LATENCY_CAP) * factor


def filler(size: int, offset: int = 0) -> bytes:
    """``size`` bytes of the printable filler pattern, starting ``offset`` bytes into it.

    ``filler(a, 0) + filler(b, a) == filler(a + b, 0)``, so streamed chunks join up
    to the same bytes ``/bytes`` serves whole.
    """
    block_len = len(_FILLER_BLOCK)
    start = offset % block_len
    out = bytearray()
    while len(out) < size:
        out += _FILLER_BLOCK[start : start + size - len(out)]
        start = 0
    return bytes(out)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""
"""The body of ``/bomb.xml``: the classic exponential entity expansion (10^9 "lol")."""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE data [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<data>&xxe;</data>
"""
"""The body of ``/xxe.xml``: an external entity that would read ``/etc/passwd``."""
