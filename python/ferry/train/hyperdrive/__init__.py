"""``azureml.train.hyperdrive``: sweeps with samplers and early-termination policies.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "EarlyTerminationPolicy": "ferry.hyperdrive",
    "HyperParameterSampling": "ferry.hyperdrive",
    "HyperDriveConfig": "ferry.hyperdrive",
    "HyperDriveRun": "ferry.hyperdrive",
    "HyperDriveRunConfig": "ferry.hyperdrive",
    "RandomParameterSampling": "ferry.hyperdrive",
    "GridParameterSampling": "ferry.hyperdrive",
    "BayesianParameterSampling": "ferry.hyperdrive",
    "BanditPolicy": "ferry.hyperdrive",
    "MedianStoppingPolicy": "ferry.hyperdrive",
    "TruncationSelectionPolicy": "ferry.hyperdrive",
    "NoTerminationPolicy": "ferry.hyperdrive",
    "PrimaryMetricGoal": "ferry.hyperdrive",
    "choice": "ferry.hyperdrive",
    "randint": "ferry.hyperdrive",
    "uniform": "ferry.hyperdrive",
    "quniform": "ferry.hyperdrive",
    "loguniform": "ferry.hyperdrive",
    "qloguniform": "ferry.hyperdrive",
    "normal": "ferry.hyperdrive",
    "qnormal": "ferry.hyperdrive",
    "lognormal": "ferry.hyperdrive",
    "qlognormal": "ferry.hyperdrive",
})
