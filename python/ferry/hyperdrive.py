"""Sweeps from Python, as Azure ML's HyperDrive spells them: parameter expressions, samplings,
early-termination policies and :class:`HyperDriveConfig`, submitted with
``Experiment.submit(HyperDriveConfig(...))`` (docs/sweeps.md has the semantics).

The configuration becomes a sweep file (JSON, which is YAML) that the server checks like an
``hdconfig.yml``: its errors name the field."""

from __future__ import annotations

import json

from .run import Run

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

    def to_json(self) -> "Dict[str, Any]":
        """Azure's description of the sampling (a dict): ``{"name": SAMPLING_NAME,
        "parameter_space": {name: [expression, values]}}`` (a choice's options as one list, as
        Azure nests them), with ``{"properties": {"seed": N}}`` when a seed is set."""
        space = {name: [e[0], [list(e[1])] if e[0] == "choice" else list(e[1])]
                 for name, e in self.parameter_space.items()}
        out: "Dict[str, Any]" = {"name": getattr(self, "SAMPLING_NAME", self.type), "parameter_space": space}
        if self.seed is not None:
            out["properties"] = {"seed": self.seed}
        return out

    def _spec(self) -> "Dict[str, Any]":
        out: "Dict[str, Any]" = {"type": self.type, "parameter_space": [
            {"name": name, "expression": e[0], "values": e[1]} for name, e in self.parameter_space.items()]}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


HyperParameterSampling = _Sampling  # Azure's name of the samplings' base class


class RandomParameterSampling(_Sampling):
    type = "random"
    SAMPLING_NAME = "RANDOM"  # Azure's name of the method (to_json); the sweep file says "random"


class GridParameterSampling(_Sampling):
    type = "grid"
    SAMPLING_NAME = "GRID"

    def __init__(self, parameter_space: "Dict[str, Tuple[str, List[Any]]]") -> None:
        super().__init__(parameter_space)


class BayesianParameterSampling(_Sampling):
    type = "bayesian"
    SAMPLING_NAME = "BayesianOptimization"


# ---- policies ----------------------------------------------------------------------------------

class _Policy:
    type = ""

    def __init__(self, **settings: "Any") -> None:
        self.settings = {k: v for k, v in settings.items() if v is not None}

    def _spec(self) -> "Dict[str, Any]":
        return {"type": self.type, **self.settings}

    def to_json(self) -> "Dict[str, Any]":
        """Azure's description of the policy (a dict): ``{"name": POLICY_NAME, "properties":
        {setting: value}}`` (no properties for NoTerminationPolicy)."""
        out: "Dict[str, Any]" = {"name": getattr(self, "POLICY_NAME", self.type)}
        if self.settings:
            out["properties"] = dict(self.settings)
        return out

    # Azure's read-only properties of the settings (a policy without the setting answers None).
    @property
    def evaluation_interval(self) -> "Optional[int]":
        return self.settings.get("evaluation_interval")

    @property
    def delay_evaluation(self) -> "Optional[int]":
        return self.settings.get("delay_evaluation")


EarlyTerminationPolicy = _Policy  # Azure's name of the policies' base class


class BanditPolicy(_Policy):
    type = "BanditPolicy"
    POLICY_NAME = "Bandit"  # Azure's name (to_json); the sweep file says BanditPolicy

    def __init__(self, evaluation_interval: int = 1, slack_factor: "Optional[float]" = None,
                 slack_amount: "Optional[float]" = None, delay_evaluation: int = 0) -> None:
        super().__init__(evaluation_interval=evaluation_interval, slack_factor=slack_factor,
                         slack_amount=slack_amount, delay_evaluation=delay_evaluation)

    @property
    def slack_factor(self) -> "Optional[float]":
        return self.settings.get("slack_factor")

    @property
    def slack_amount(self) -> "Optional[float]":
        return self.settings.get("slack_amount")


class MedianStoppingPolicy(_Policy):
    type = "MedianStoppingPolicy"
    POLICY_NAME = "MedianStopping"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        super().__init__(evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation)


class TruncationSelectionPolicy(_Policy):
    type = "TruncationSelectionPolicy"
    POLICY_NAME = "TruncationSelection"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0,
                 exclude_finished_jobs: bool = False) -> None:
        super().__init__(truncation_percentage=truncation_percentage, evaluation_interval=evaluation_interval,
                         delay_evaluation=delay_evaluation, exclude_finished_jobs=exclude_finished_jobs)

    @property
    def truncation_percentage(self) -> int:
        return self.settings["truncation_percentage"]


class NoTerminationPolicy(_Policy):
    type = "NoTerminationPolicy"
    POLICY_NAME = "Default"


class AshaPolicy(_Policy):
    """Asynchronous successive halving (Ferry's): ``max_t`` is in metric reports."""

    type = "ASHA"

    def __init__(self, max_t: int, grace_period: int = 1, reduction_factor: int = 3) -> None:
        super().__init__(max_t=max_t, grace_period=grace_period, reduction_factor=reduction_factor)


MAX_DURATION_MINUTES = 10080  # Azure's default and limit; Ferry's sweeps have no limit unless given
MAX_PARENT_RUNS = 5  # Azure: how many earlier sweeps resume_from may name
RESUME_FROM_TOTAL_RUNS = 1000
RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN = 20
RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN = 20


class PrimaryMetricGoal:
    """Whether the primary metric is to be maximised or minimised. HyperDriveConfig takes these,
    Azure's enum (``PrimaryMetricGoal.MAXIMIZE`` with ``.value`` "MAXIMIZE") or the words in
    any case."""

    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"

    @staticmethod
    def from_str(goal: str) -> str:
        """The goal named by ``goal`` ("maximize" or "minimize", any case)."""
        return _goal(goal)


def _goal(value: "Any") -> str:
    text = getattr(value, "value", value)
    if isinstance(text, str) and text.lower() in ("maximize", "minimize"):
        return "Maximize" if text.lower() == "maximize" else "Minimize"
    raise ValueError(f"ferry: primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or MINIMIZE, got {value!r}")


def _key(argument: str) -> str:
    """The parameter an argument sets: '--kernel' and '--kernel=rbf' -> 'kernel' (the server's
    ParamKey: leading dashes off)."""
    return argument.split("=", 1)[0].lstrip("-")


def _is_value(argument: str) -> bool:
    """Whether an argument after an option is its value (not another option; negative numbers
    are values)."""
    return not argument.startswith("-") or argument[1:2].isdigit() or argument[1:2] == "."


def _script_run_config_of(estimator: "Any") -> "Any":
    """The ScriptRunConfig an estimator stands for, by duck typing (docs/sdk.md, "Sweeps"): its
    ``_script_run_config()`` (or Azure's ``_get_script_run_config()``), else its ``run_config``
    when that is a ScriptRunConfig, else a ScriptRunConfig of its ``source_directory`` and its
    ``run_config`` (a RunConfiguration)."""
    from .run_configuration import RunConfiguration
    from .script_run_config import ScriptRunConfig

    for method in ("_script_run_config", "_get_script_run_config"):
        f = getattr(estimator, method, None)
        if callable(f):
            src = f()
            if isinstance(src, ScriptRunConfig):
                return src
            raise TypeError(f"ferry: {type(estimator).__name__}.{method}() returned {type(src).__name__}, "
                            "not a ScriptRunConfig")
    rc = getattr(estimator, "run_config", None)
    if isinstance(rc, ScriptRunConfig):
        return rc
    if isinstance(rc, RunConfiguration):
        return ScriptRunConfig(source_directory=getattr(estimator, "source_directory", None) or ".", run_config=rc)
    raise TypeError(f"ferry: estimator {type(estimator).__name__} has neither _script_run_config() nor a run_config; "
                    "pass run_config=ScriptRunConfig(...) instead")


class HyperDriveConfig:
    """A sweep: ``run_config`` (a :class:`ferry.ScriptRunConfig`: the script, its fixed
    arguments, target and environment) or ``estimator`` run many times, each trial with its
    sampled arguments appended after the fixed ones.

    A fixed argument that is also sampled is kept, and the sampled value after it wins (as with
    Azure ML; argparse takes the last value), with one warning naming the parameters; an
    estimator's fixed value is dropped instead (Azure's rule for estimators). The CLI's
    ``run submit-hyperdrive`` refuses the overlap.
    """

    def __init__(self, hyperparameter_sampling: "Optional[_Sampling]" = None, primary_metric_name: "Optional[str]" = None,
                 primary_metric_goal: "Any" = None, max_total_runs: "Optional[int]" = None,
                 max_concurrent_runs: "Optional[int]" = None, max_duration_minutes: "Optional[int]" = None,
                 policy: "Optional[_Policy]" = None, estimator: "Any" = None, run_config: "Any" = None,
                 resume_from: "Any" = None, resume_child_runs: "Any" = None, pipeline: "Any" = None,
                 debug_flag: "Any" = None, custom_run_id: "Any" = None, *, azure_strict: bool = False,
                 warm_start: "Optional[List[str]]" = None) -> None:
        from .script_run_config import ScriptRunConfig

        if not isinstance(hyperparameter_sampling, _Sampling):
            raise TypeError("ferry: hyperparameter_sampling must be a Random/Grid/BayesianParameterSampling, got "
                            f"{type(hyperparameter_sampling).__name__}")
        if policy is not None and not isinstance(policy, _Policy):
            raise TypeError("ferry: policy must be a BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, "
                            "NoTerminationPolicy or AshaPolicy")
        if not primary_metric_name or not isinstance(primary_metric_name, str):
            raise ValueError("ferry: HyperDriveConfig needs primary_metric_name: the metric the trials log")
        for name, value in (("resume_child_runs", resume_child_runs), ("pipeline", pipeline),
                            ("custom_run_id", custom_run_id)):
            if value is not None:
                raise ValueError(f"ferry: HyperDriveConfig({name}=...) is not supported (docs/sweeps.md)")
        if (estimator is None) == (run_config is None):
            raise ValueError("ferry: HyperDriveConfig needs one of run_config (a ScriptRunConfig) or estimator")
        self.estimator = estimator
        if estimator is not None:
            run_config = _script_run_config_of(estimator)
        elif not isinstance(run_config, ScriptRunConfig) and hasattr(run_config, "_script_run_config"):
            run_config = run_config._script_run_config()  # an estimator passed as run_config
        if not isinstance(run_config, ScriptRunConfig):
            raise TypeError(f"ferry: run_config must be a ScriptRunConfig, got {type(run_config).__name__}")
        self.run_config = run_config
        self.sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = _goal(primary_metric_goal)
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy
        self.azure_strict = azure_strict
        self.warm_start = list(warm_start or [])
        if resume_from is not None:  # earlier sweeps (runs or ids) seed a Bayesian sweep
            for r in resume_from if isinstance(resume_from, (list, tuple)) else [resume_from]:
                self.warm_start.append(r if isinstance(r, str) else r.id)

    @property
    def source_directory(self) -> str:
        return self.run_config.source_directory

    pipeline = None  # Azure's pipeline sweeps are not supported

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

    def _fixed_arguments(self, arguments: "List[str]") -> "List[str]":
        """The trials' fixed arguments, with one warning when some set a sampled parameter:
        kept (the sampled value, appended after, wins), or, for an estimator, dropped."""
        import warnings

        sampled = {_key(name) for name in self.sampling.parameter_space}
        out: "List[str]" = []
        overlap: "List[str]" = []
        i = 0
        while i < len(arguments):
            a = arguments[i]
            takes_value = "=" not in a and i + 1 < len(arguments) and _is_value(arguments[i + 1])
            if a.startswith("-") and _key(a) in sampled:
                overlap.append(a.split("=", 1)[0])
                if self.estimator is not None:
                    i += 2 if takes_value else 1
                    continue
            out.append(a)
            i += 1
        if overlap:
            what = ("are dropped; the sampled values are used" if self.estimator is not None
                    else "stay, and the sampled values appended after them win")
            warnings.warn(f"ferry: the arguments {overlap} of the run configuration are also sampled by the sweep: "
                          f"the fixed values {what}", UserWarning, stacklevel=4)
        return out

    def _sweep_body(self) -> "Dict[str, Any]":
        return {"spec": self.spec(), "spec_file": "HyperDriveConfig", "azure_strict": self.azure_strict,
                "warm_start": self.warm_start, "sampled_after_fixed": True}

    def _submit(self, experiment: "Any", tags: "Optional[Dict[str, str]]" = None) -> "HyperDriveRun":
        """Submits the sweep to ``experiment`` (what ``Experiment.submit(config)`` does with a
        HyperDriveConfig): the source directory is snapshotted as for a run, and the sweep's run
        is returned as a :class:`HyperDriveRun`."""
        client = experiment.workspace._client
        body, snap = self.run_config._snapshot_and_body(client, experiment.name, tags)
        body["arguments"] = self._fixed_arguments(list(body["arguments"]))
        body["sweep"] = self._sweep_body()
        data = client.call("POST", "/sweeps", body)
        run = HyperDriveRun._bound(experiment.workspace, data["id"], data)
        run._hyperdrive_config = self
        run.snapshot_warnings = snap.warnings
        return run


class HyperDriveRunConfig(HyperDriveConfig):
    """Azure's older name of :class:`HyperDriveConfig` (the same arguments)."""


# ---- the sweep's run ------------------------------------------------------------------------

def _hyperparameters(parameters: "Dict[str, str]") -> str:
    """A trial's sampled values as Azure ML shows them: a JSON object, numbers as numbers."""
    typed: "Dict[str, Any]" = {}
    for name, text in parameters.items():
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = text
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
            and value not in (float("inf"), float("-inf"))
        typed[name] = value if number else text
    return json.dumps(typed)


class HyperDriveRun(Run):
    """A sweep's run, as ``Experiment.submit(HyperDriveConfig(...))`` returns it (or
    ``HyperDriveRun(experiment, run_id)``): a :class:`ferry.Run` with the sweep's views - its
    trials sorted by the primary metric, the best trial, every trial's hyperparameters and
    metrics, and per-trial progress while waiting."""

    def __init__(self, experiment: "Any", run_id: str, hyperdrive_config: "Optional[HyperDriveConfig]" = None,
                 **kwargs: "Any") -> None:
        super().__init__(experiment, run_id)
        self._hyperdrive_config = hyperdrive_config

    _hyperdrive_config: "Optional[HyperDriveConfig]" = None

    @property
    def hyperdrive_config(self) -> "Optional[HyperDriveConfig]":
        """The configuration it was submitted with (``None`` for a sweep read back by id)."""
        return self._hyperdrive_config

    def _sweep(self) -> "Dict[str, Any]":
        return self._client().call("GET", f"/sweeps/{self.id}")

    def cancel(self) -> bool:
        """Cancels the sweep and its running trials; True (as Azure ML returns)."""
        self._client().call("POST", f"/sweeps/{self.id}/cancel")
        return True

    def get_hyperparameters(self) -> "Dict[str, str]":
        """Every trial's sampled values: run id -> a JSON object of parameter name -> value
        (text, as Azure ML gives them: ``'{"--kernel": "rbf", "--penalty": 1.5}'``)."""
        return {t["id"]: _hyperparameters(t.get("parameters", {})) for t in self._sweep().get("trials", [])}

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> "List[Dict[str, Any]]":
        """The trials, best first by their best primary metric value (the highest for
        Maximize): dicts of run_id, hyperparameters, best_primary_metric and status. ``reverse``
        turns the order of those with a metric; those without follow them (or, with
        ``discard_no_metric``, are left out); ``top`` > 0 keeps the first ``top``."""
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise ValueError(f"ferry: top must be 0 (all) or a positive integer, got {top!r}")
        s = self._sweep()
        maximize = s.get("sweep", {}).get("primary_metric_goal", "Maximize") == "Maximize"
        with_metric, without = [], []
        for t in s.get("trials", []):
            child = {"run_id": t["id"], "hyperparameters": _hyperparameters(t.get("parameters", {})),
                     "best_primary_metric": t.get("metric"), "status": t["status"]}
            (with_metric if isinstance(t.get("metric"), (int, float)) else without).append(child)
        with_metric.sort(key=lambda c: c["best_primary_metric"], reverse=maximize != reverse)
        out = with_metric + ([] if discard_no_metric else without)
        return out[:top] if top else out

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> "Optional[Any]":
        """The trial with the best primary metric value (``None`` before any trial reported it),
        failed and canceled trials included unless excluded."""
        for child in self.get_children_sorted_by_primary_metric(discard_no_metric=True):
            if (child["status"] == "Failed" and not include_failed) or \
                    (child["status"] == "Canceled" and not include_canceled):
                continue
            return Run.get(self._ws, child["run_id"])
        return None

    def get_metrics(self, name: "Optional[str]" = None) -> "Dict[str, Dict[str, Any]]":
        """Every trial's metrics: run id -> {name: value or [values]} (as ``Run.get_metrics``)."""
        from . import _remote_run

        client = self._client()
        return {t["id"]: _remote_run.metrics(client, t["id"], name) for t in self._sweep().get("trials", [])}

    def get_diagnostics(self) -> None:
        raise NotImplementedError("ferry: a sweep has no diagnostics of its own; see its trials' logs")

    def fail(self, *args: "Any", **kwargs: "Any") -> None:
        raise NotImplementedError("ferry: a sweep cannot be failed by hand; cancel() it")

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> "Dict[str, Any]":
        """Waits until the sweep ends and returns its :meth:`get_details`. With
        ``show_output``, one line per trial as it starts and ends (its parameters, status and
        primary metric), then the best trial."""
        if not show_output:
            return super().wait_for_completion(False, wait_post_processing, raise_on_error)
        import sys

        return _follow(self, sys.stdout, raise_on_error)


def _follow(run: "HyperDriveRun", out: "Any", raise_on_error: bool, poll: float = 0.5) -> "Dict[str, Any]":
    """The sweep's progress, one line per trial event, until it ends."""
    import time

    from ._remote_run import TERMINAL, finish

    out.write(f"RunId: {run.id}\n")
    out.flush()
    seen: "Dict[str, str]" = {}
    described = False
    while True:
        s = run._sweep()
        info = s.get("sweep", {})
        if not described and info:
            total = info.get("max_total_runs")
            out.write(f"Sweep: {info.get('sampling')} sampling, at most {total} trials, "
                      f"{info.get('max_concurrent_runs')} at a time; primary metric "
                      f"{info.get('primary_metric_name')} ({info.get('primary_metric_goal')})\n")
            described = True
        total = info.get("max_total_runs", "?")
        for k, t in enumerate(s.get("trials", [])):
            status = t["status"]
            if seen.get(t["id"]) == status or status in ("Queued", "Preparing"):
                continue
            seen[t["id"]] = status
            params = " ".join(f"{name} {value}" for name, value in t.get("parameters", {}).items())
            line = f"[trial {k + 1}/{total}] {t['id']} {status}: {params}"
            if status in TERMINAL and t.get("metric") is not None:
                line += f"; {info.get('primary_metric_name')} {t['metric']}"
            if t.get("reason"):
                line += f" ({t['reason']})"
            out.write(line + "\n")
            out.flush()
        if s["status"] in TERMINAL:
            break
        time.sleep(poll)
    best = s.get("best")
    extra = f"Best trial: {best['id']} ({info.get('primary_metric_name')} {best.get('metric')})\n" if best else ""
    return finish(run._client(), run.id, out, raise_on_error, what="sweep", extra=extra)
