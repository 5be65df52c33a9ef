"""Seed 004 (500 XML documents, 4 at a time): completion order, near the lower bound."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from types import ModuleType

import pytest

Load = Callable[[str], ModuleType]


def test_500_documents_in_completion_order_near_the_lower_bound(load_example: Load) -> None:
    outcome = load_example("seed4_xml_downloader/download.py").main(
        documents=500, latency=1.5, per_host=4
    )
    done = outcome["done"]
    assert outcome["failures"] == {}
    assert len(done) == 500
    assert len({d.url for d in done}) == 500
    assert all(d.items > 0 for d in done)
    # Completion order, give or take a thread switch: a document is stamped as its task
    # ends, a moment before its future settles, so a busy machine may swap two documents
    # that ended a few ms apart. Handing them back in input order (the seed's FIFO joins)
    # would hold finished documents behind a slow one, up to its whole delay (0.6 s here).
    finished = [d.finished for d in done]
    latest_handback = max(f - min(finished[i:]) for i, f in enumerate(finished))
    assert latest_handback < 0.15, "results were not handed back in completion order"
    input_order = [int(d.url.rsplit("/", 1)[1].split(".")[0]) for d in done]
    assert input_order != sorted(input_order), "completion order equals input order"
    assert outcome["max_in_flight"] == 4
    # A behaviour check, not a speed target (that is benchmarks/bench_pool_seed004.py):
    # a run that lets one slow file stall the rest (the seed's FIFO joins, ~1.85x) or
    # that runs fewer than 4 at a time lands far above 1.3x; a loaded CI machine has
    # been seen at 1.08x, so the margin is for the machine, not for the pool.
    assert outcome["elapsed"] <= 1.3 * outcome["lower_bound"], outcome


def test_fetch_command_downloads_all_500(load_example: Load) -> None:
    if importlib.util.find_spec("threadloom.cli.fetch") is None:
        pytest.skip("threadloom fetch is not available yet")
    outcome = load_example("seed4_xml_downloader/fetch_command.py").main(documents=500)
    assert outcome == {"status": 0, "done": 500, "failed": 0, "pending": 0}
