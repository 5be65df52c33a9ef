"""`absorb_store` moves a SQLite store's outcomes into another as `Store.record` would."""

from __future__ import annotations

from pathlib import Path

from threadloom.store import Outcome, State, absorb_store, open_store, read_outcomes


def _shard(path: Path) -> None:
    with open_store(path) as shard:
        shard.add_urls(["http://h/a", "http://h/b", "http://h/c", "http://h/stranger"])
        shard.record(Outcome("http://h/a", State.DONE, 200, body=b"new a", attempts=2))
        shard.record(Outcome("http://h/b", State.FAILED, 503, attempts=3, error="HTTP 503"))
        shard.record(Outcome("http://h/stranger", State.DONE, 200, body=b"s"))
        # http://h/c stays pending: it has no outcome to move.


def test_absorb_matches_record(tmp_path: Path) -> None:
    _shard(tmp_path / "shard.db")
    views = []
    for name in ("absorbed.db", "recorded.db"):
        with open_store(tmp_path / name) as store:
            store.add_urls(["http://h/a", "http://h/b", "http://h/c"])
            # An earlier run: b was done (its body must go), a failed once.
            store.record(Outcome("http://h/b", State.DONE, 200, body=b"old b"))
            store.record(Outcome("http://h/a", State.FAILED, 500, error="HTTP 500"))
            if name == "absorbed.db":
                absorbed = absorb_store(store, tmp_path / "shard.db")
                assert absorbed is not None
                assert (absorbed.done, absorbed.failed, absorbed.bytes) == (2, 1, 6)
            else:
                store.flush()
                for outcome in read_outcomes(tmp_path / "shard.db"):
                    if outcome.url != "http://h/stranger":  # record would add it
                        store.record(outcome)
            store.flush()
            rows = {str(row["url"]): row for row in store.export()}
            bodies = {url: store.read_body(url) for url in rows}
            views.append(
                {
                    url: (row["state"], row["attempts"], row["sha256"], row["error"], bodies[url])
                    for url, row in rows.items()
                }
            )
    assert views[0] == views[1]
    assert views[0]["http://h/a"][0] == "done"
    assert views[0]["http://h/a"][1] == 3  # 1 earlier + 2 in the shard
    assert views[0]["http://h/a"][4] == b"new a"
    assert views[0]["http://h/b"][4] is None  # failed now: the old body is gone
    assert views[0]["http://h/c"][0] == "pending"
    assert "http://h/stranger" not in views[0]


def test_absorb_declines_other_kinds(tmp_path: Path) -> None:
    _shard(tmp_path / "shard.db")
    with open_store(f"{tmp_path}/dir/") as store:
        assert absorb_store(store, tmp_path / "shard.db") is None
