"""``azureml.train.hyperdrive.parameter_expressions``.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
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
