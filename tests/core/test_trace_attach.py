"""TraceRecorder.attach: a pool attached later shares the recorder's timeline."""

from __future__ import annotations

from threadloom.core import Pool, TraceRecorder


def test_attached_pools_are_recorded_until_close() -> None:
    with Pool(1, name="first") as first, Pool(1, name="later") as later:
        recorder = TraceRecorder(first)
        first.submit(abs, -1).result()
        later.submit(abs, -2).result()  # not attached yet: not recorded
        recorder.attach(later)
        later.submit(abs, -3).result()
        recorder.close()
        later.submit(abs, -4).result()  # closed: not recorded
        first.submit(abs, -5).result()
    assert sorted(span.pool for span in recorder.spans()) == ["first", "later"]
