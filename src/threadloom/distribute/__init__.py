"""One fetch across many processes and machines, on Dask (``fetch --processes/--cluster``).

The client reads the input into the run's store and cuts the URLs still to do into
shards; Dask workers (a LocalCluster this process starts, or an existing cluster) run
the ordinary fetch job on each shard. With ``--processes`` they record into the run's
store themselves (opened shared: several processes of one machine write one SQLite
file); on a ``--cluster`` each writes a shard store beside the run's store, which the
client records into the run's store as each shard finishes. Needs the ``dask`` extra
(``distributed``); importing this package imports it.
"""

from threadloom.distribute._cluster import ClusterUnavailable
from threadloom.distribute._merge import shards_root
from threadloom.distribute._plan import DEFAULT_SHARD_SIZE, Plan, plan
from threadloom.distribute._run import DistributedFetchJob, ScaleOut
from threadloom.distribute._shard import ShardResult, ShardTask, run_shard

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "ClusterUnavailable",
    "DistributedFetchJob",
    "Plan",
    "ScaleOut",
    "ShardResult",
    "ShardTask",
    "plan",
    "run_shard",
    "shards_root",
]
