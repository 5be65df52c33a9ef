"""A quiet fetch loads only what it uses: start-up is most of a short run's time."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import threadloom.cli.fetch
import threadloom.cli.status
heavy = ["rich", "defusedxml", "email.utils", "xml.etree.ElementTree",
         "threadloom.jobs._report", "threadloom.jobs._bar", "threadloom.sync", "protego",
         # A plain fetch admits URLs with KeyGate and Scheduler alone (DirectFetch):
         "threadloom.core._pool", "threadloom.core._pipeline", "threadloom.core._trace",
         "threadloom.core._throttle", "threadloom.jobs._robots", "threadloom.jobs._trace",
         # --refresh and --process over earlier runs' documents only:
         "threadloom.jobs._refresh", "threadloom.jobs._stored", "decimal", "secrets"]
print(sorted(name for name in heavy if name in sys.modules))
import threadloom.jobs as jobs
assert "write_report" in dir(jobs)
from threadloom.jobs import ReportData, TimelineSpan, write_report
assert "threadloom.jobs._report" in sys.modules
from threadloom import Pipeline, Pool
from threadloom.jobs import RunTrace, StoredProcessing
assert "threadloom.core._pipeline" in sys.modules and "threadloom.jobs._trace" in sys.modules
assert "threadloom.jobs._stored" in sys.modules
"""


def test_the_fetch_and_status_commands_import_no_optional_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
