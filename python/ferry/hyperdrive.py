"""Sweeps from Python, as Azure ML's HyperDrive spells them: parameter expressions, samplings,
early-termination policies and :class:`HyperDriveConfig`, submitted with
``Experiment.submit(HyperDriveConfig(...))`` (docs/sweeps.md has the semantics).

The configuration becomes a sweep file (JSON, which is YAML) that the server checks like an
``hdconfig.yml``: its errors name the field."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional, Tuple


# ---- parameter expressions ---------------------------------------------------------------

def _expr(name: str, *values: "Any") -> "Tuple[str, List[Any]]":
    return (name, list(values))


# The server's limit on the values of one choice (docs/sweeps.md, "Limits"): checked before a
# range is listed, so choice(range(10**12)) fails at once instead of filling memory.
_MAX_CHOICES = 10000


def choice(*options: "Any") -> "Tuple[str, List[Any]]":
    """One of the options: ``choice(1, 2, 3)``, ``choice([1, 2, 3])`` or ``choice(range(8))``."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        try:
            count = len(options[0])
        except OverflowError:  # a range longer than sys.maxsize
            count = _MAX_CHOICES + 1
        if count > _MAX_CHOICES:
            what = repr(options[0]) if isinstance(options[0], range) else f"{count} values"
            raise ValueError(f"ferry: choice() got {what}, more than the limit of {_MAX_CHOICES} values of one "
                             "choice; use randint, uniform or quniform for a range")
        options = tuple(options[0])
    if not options:
        raise ValueError("ferry: choice() needs at least one option")
    return ("choice", list(options))


def randint(upper: int) -> "Tuple[str, List[Any]]":
    return _expr("randint", upper)


def uniform(min_value: float, max_value: float) -> "Tuple[str, List[Any]]":
    return _expr("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> "Tuple[str, List[Any]]":
    return _expr("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> "Tuple[str, List[Any]]":
    return _expr("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> "Tuple[str, List[Any]]":
    return _expr("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> "Tuple[str, List[Any]]":
    return _expr("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> "Tuple[str, List[Any]]":
    return _expr("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> "Tuple[str, List[Any]]":
    return _expr("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> "Tuple[str, List[Any]]":
    return _expr("qlognormal", mu, sigma, q)


# ---- samplings -------------------------------------------------------------------------------

class _Sampling:
    type = ""

    def __init__(self, parameter_space: "Dict[str, Tuple[str, List[Any]]]", seed: "Optional[int]" = None) -> None:
        if not isinstance(parameter_space, dict) or not parameter_space:
            raise ValueError("ferry: a sampling needs a parameter space: {'--name': uniform(0, 1), ...}")
        for name, e in parameter_space.items():
            if not (isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str)):
                raise ValueError(f"ferry: parameter {name!r} must be an expression such as choice(...) or uniform(...)")
        self.parameter_space = dict(parameter_space)
        self.seed = seed

    def _spec(self) -> "Dict[str, Any]":
        out: "Dict[str, Any]" = {"type": self.type, "parameter_space": [
            {"name": name, "expression": e[0], "values": e[1]} for name, e in self.parameter_space.items()]}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


class RandomParameterSampling(_Sampling):
    type = "random"


class GridParameterSampling(_Sampling):
    type = "grid"

    def __init__(self, parameter_space: "Dict[str, Tuple[str, List[Any]]]") -> None:
        super().__init__(parameter_space)


class BayesianParameterSampling(_Sampling):
    type = "bayesian"


# ---- policies ----------------------------------------------------------------------------------

class _Policy:
    type = ""

    def __init__(self, **settings: "Any") -> None:
        self.settings = {k: v for k, v in settings.items() if v is not None}

    def _spec(self) -> "Dict[str, Any]":
        return {"type": self.type, **self.settings}


class BanditPolicy(_Policy):
    type = "BanditPolicy"

    def __init__(self, evaluation_interval: int = 1, slack_factor: "Optional[float]" = None,
                 slack_amount: "Optional[float]" = None, delay_evaluation: int = 0) -> None:
        super().__init__(evaluation_interval=evaluation_interval, slack_factor=slack_factor,
                         slack_amount=slack_amount, delay_evaluation=delay_evaluation)


class MedianStoppingPolicy(_Policy):
    type = "MedianStoppingPolicy"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        super().__init__(evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation)


class TruncationSelectionPolicy(_Policy):
    type = "TruncationSelectionPolicy"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0,
                 exclude_finished_jobs: bool = False) -> None:
        super().__init__(truncation_percentage=truncation_percentage, evaluation_interval=evaluation_interval,
                         delay_evaluation=delay_evaluation, exclude_finished_jobs=exclude_finished_jobs)


class NoTerminationPolicy(_Policy):
    type = "NoTerminationPolicy"


class AshaPolicy(_Policy):
    """Asynchronous successive halving (Ferry's): ``max_t`` is in metric reports."""

    type = "ASHA"

    def __init__(self, max_t: int, grace_period: int = 1, reduction_factor: int = 3) -> None:
        super().__init__(max_t=max_t, grace_period=grace_period, reduction_factor=reduction_factor)


class PrimaryMetricGoal:
    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"


class HyperDriveConfig:
    """A sweep: ``run_config`` (a :class:`ferry.ScriptRunConfig`: the script, its fixed
    arguments, target and environment) run many times with sampled arguments appended."""

    def __init__(self, run_config: "Any", hyperparameter_sampling: _Sampling, primary_metric_name: str,
                 primary_metric_goal: str, max_total_runs: "Optional[int]" = None,
                 max_concurrent_runs: "Optional[int]" = None, max_duration_minutes: "Optional[int]" = None,
                 policy: "Optional[_Policy]" = None, azure_strict: bool = False,
                 warm_start: "Optional[List[str]]" = None) -> None:
        if not isinstance(hyperparameter_sampling, _Sampling):
            raise TypeError("ferry: hyperparameter_sampling must be a Random/Grid/BayesianParameterSampling")
        if policy is not None and not isinstance(policy, _Policy):
            raise TypeError("ferry: policy must be a BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, "
                            "NoTerminationPolicy or AshaPolicy")
        self.run_config = run_config
        self.sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = primary_metric_goal
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy
        self.azure_strict = azure_strict
        self.warm_start = list(warm_start or [])

    def spec(self) -> str:
        """The sweep file the server receives (JSON, a subset of YAML)."""
        spec: "Dict[str, Any]" = {"sampling": self.sampling._spec(), "primary_metric_name": self.primary_metric_name,
                                  "primary_metric_goal": self.primary_metric_goal}
        if self.policy is not None:
            spec["policy"] = self.policy._spec()
        for k in ("max_total_runs", "max_concurrent_runs", "max_duration_minutes"):
            if getattr(self, k) is not None:
                spec[k] = getattr(self, k)
        return json.dumps(spec, indent=2) + "\n"
