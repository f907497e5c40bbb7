"""``azureml.train.hyperdrive.runconfig``.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "HyperDriveConfig": "ferry.hyperdrive",
    "PrimaryMetricGoal": "ferry.hyperdrive",
    "HyperDriveRunConfig": "ferry.hyperdrive",
    "MAX_DURATION_MINUTES": "ferry.hyperdrive",
    "MAX_PARENT_RUNS": "ferry.hyperdrive",
    "RESUME_FROM_TOTAL_RUNS": "ferry.hyperdrive",
    "RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN": "ferry.hyperdrive",
    "RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN": "ferry.hyperdrive",
    "ScriptRunConfig": "ferry.script_run_config",  # Azure imports it into this module too
    "NoTerminationPolicy": "ferry.hyperdrive",  # Azure imports it into this module too
    "BayesianParameterSampling": "ferry.hyperdrive",  # Azure imports it into this module too
})
