"""The one part of the build pyproject.toml cannot declare yet (without an experimental
table): threadloom.sync's per-thread state lookup in C (see its source for why).

Optional: without a C compiler the install still succeeds, and threadloom.sync finds a
thread's state through a threading.local, ~0.3x `threading.Lock` slower per
uncontended acquisition (benchmarks/bench_sync.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "threadloom.sync._cstate",
            sources=["src/threadloom/sync/_cstate.c"],
            optional=True,
        )
    ]
)
