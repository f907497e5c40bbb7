"""Azure ML SDK v1's published pipelines, pipeline endpoints and schedules (``PublishedPipeline``,
``PipelineEndpoint``, ``Schedule``, ``ScheduleRecurrence``, ``TimeZone`` of
``azureml.pipeline.core``) over Ferry's REST API: ``/api/v1/pipelines``,
``/api/v1/pipeline-endpoints`` and ``/api/v1/schedules`` (docs/pipelines.md, "Publish and
schedule"). ``Pipeline.publish`` calls :func:`_publish` with the pipeline's JSON definition.
"""

from __future__ import annotations

import datetime
import enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

__all__ = ["PublishedPipeline", "PipelineEndpoint", "Schedule", "ScheduleRecurrence", "TimeZone"]

# Windows time zone ids, as Azure's TimeZone enum holds them (the server maps each to its IANA
# zone: src/pipeline/windows_zones.cc).
_WINDOWS_ZONES = (
    "Dateline Standard Time", "UTC-11", "Aleutian Standard Time", "Hawaiian Standard Time",
    "Marquesas Standard Time", "Alaskan Standard Time", "UTC-09", "Pacific Standard Time (Mexico)", "UTC-08",
    "Pacific Standard Time", "US Mountain Standard Time", "Mountain Standard Time (Mexico)",
    "Mountain Standard Time", "Yukon Standard Time", "Central America Standard Time",
    "Central Standard Time", "Easter Island Standard Time", "Central Standard Time (Mexico)",
    "Canada Central Standard Time", "SA Pacific Standard Time", "Eastern Standard Time (Mexico)",
    "Eastern Standard Time", "Haiti Standard Time", "Cuba Standard Time", "US Eastern Standard Time",
    "Turks And Caicos Standard Time", "Paraguay Standard Time", "Atlantic Standard Time",
    "Venezuela Standard Time", "Central Brazilian Standard Time", "SA Western Standard Time",
    "Pacific SA Standard Time", "Newfoundland Standard Time", "Tocantins Standard Time",
    "E. South America Standard Time", "SA Eastern Standard Time", "Argentina Standard Time",
    "Greenland Standard Time", "Montevideo Standard Time", "Magallanes Standard Time",
    "Saint Pierre Standard Time", "Bahia Standard Time", "UTC-02", "Azores Standard Time",
    "Cape Verde Standard Time", "UTC", "GMT Standard Time", "Greenwich Standard Time",
    "Sao Tome Standard Time", "Morocco Standard Time", "W. Europe Standard Time",
    "Central Europe Standard Time", "Romance Standard Time", "Central European Standard Time",
    "W. Central Africa Standard Time", "Jordan Standard Time", "GTB Standard Time",
    "Middle East Standard Time", "Egypt Standard Time", "E. Europe Standard Time", "Syria Standard Time",
    "West Bank Standard Time", "South Africa Standard Time", "FLE Standard Time", "Israel Standard Time",
    "South Sudan Standard Time", "Kaliningrad Standard Time", "Sudan Standard Time", "Libya Standard Time",
    "Namibia Standard Time", "Arabic Standard Time", "Turkey Standard Time", "Arab Standard Time",
    "Belarus Standard Time", "Russian Standard Time", "E. Africa Standard Time", "Iran Standard Time",
    "Arabian Standard Time", "Astrakhan Standard Time", "Azerbaijan Standard Time", "Russia Time Zone 3",
    "Mauritius Standard Time", "Saratov Standard Time", "Georgian Standard Time", "Volgograd Standard Time",
    "Caucasus Standard Time", "Afghanistan Standard Time", "West Asia Standard Time",
    "Ekaterinburg Standard Time", "Pakistan Standard Time", "Qyzylorda Standard Time", "India Standard Time",
    "Sri Lanka Standard Time", "Nepal Standard Time", "Central Asia Standard Time",
    "Bangladesh Standard Time", "Omsk Standard Time", "Myanmar Standard Time", "SE Asia Standard Time",
    "Altai Standard Time", "W. Mongolia Standard Time", "North Asia Standard Time",
    "N. Central Asia Standard Time", "Tomsk Standard Time", "China Standard Time",
    "North Asia East Standard Time", "Singapore Standard Time", "W. Australia Standard Time",
    "Taipei Standard Time", "Ulaanbaatar Standard Time", "Aus Central W. Standard Time",
    "Transbaikal Standard Time", "Tokyo Standard Time", "North Korea Standard Time", "Korea Standard Time",
    "Yakutsk Standard Time", "Cen. Australia Standard Time", "AUS Central Standard Time",
    "E. Australia Standard Time", "AUS Eastern Standard Time", "West Pacific Standard Time",
    "Tasmania Standard Time", "Vladivostok Standard Time", "Lord Howe Standard Time",
    "Bougainville Standard Time", "Russia Time Zone 10", "Magadan Standard Time", "Norfolk Standard Time",
    "Sakhalin Standard Time", "Central Pacific Standard Time", "Russia Time Zone 11",
    "New Zealand Standard Time", "UTC+12", "Fiji Standard Time", "Chatham Islands Standard Time", "UTC+13",
    "Tonga Standard Time", "Samoa Standard Time", "Line Islands Standard Time", "Mid-Atlantic Standard Time",
    "Kamchatka Standard Time", "Mexico Standard Time", "Mexico Standard Time 2",
)


def _member(zone_id: str) -> str:
    return "".join(c for c in zone_id if c.isalnum())


#: ``TimeZone.PacificStandardTime.value == "Pacific Standard Time"``: a schedule's time zone.
TimeZone = enum.Enum("TimeZone", [(_member(z), z) for z in _WINDOWS_ZONES], type=str, module=__name__)
TimeZone.__doc__ = "Azure's time zones (Windows ids) for a ScheduleRecurrence's time_zone."


def _quote(s: str) -> str:
    import urllib.parse

    return urllib.parse.quote(str(s), safe="")


def _run_of(workspace: "Any", experiment_name: str, run_json: "Dict[str, Any]") -> "Any":
    """A pipeline run as the SDK returns one: a PipelineRun where the SDK has it, else a Run."""
    try:
        from ..experiment import Experiment
        from ..pipeline_run import PipelineRun  # type: ignore[import-not-found]

        return PipelineRun(Experiment(workspace, experiment_name), run_json["id"])
    except ImportError:
        from ..run import Run

        return Run._bound(workspace, run_json["id"], run_json)


def _submit_body(experiment_name: str, pipeline_parameters: "Optional[Dict[str, Any]]",
                 pipeline_version: "Optional[str]" = None) -> "Dict[str, Any]":
    """Azure's submit body: plain values in ParameterAssignments, DataPath values (anything with
    datastore_name and path_on_datastore, as azureml.data.datapath.DataPath has) in
    DataPathAssignments."""
    if not experiment_name:
        raise ValueError("ferry: experiment_name is required: the experiment the pipeline run goes to")
    params: "Dict[str, Any]" = {}
    datapaths: "Dict[str, Any]" = {}
    for name, value in (pipeline_parameters or {}).items():
        store = getattr(value, "datastore_name", None)
        path = getattr(value, "path_on_datastore", None)
        if path is not None:
            datapaths[name] = {"DataStoreName": store or "", "RelativePath": path}
        elif isinstance(value, dict) and set(value) == {"datastore", "path"}:
            datapaths[name] = {"DataStoreName": value["datastore"], "RelativePath": value["path"]}
        else:
            params[name] = value
    body: "Dict[str, Any]" = {"ExperimentName": experiment_name, "ParameterAssignments": params,
                              "DataPathAssignments": datapaths}
    if pipeline_version is not None:
        body["PipelineVersion"] = str(pipeline_version)
    return body


class PublishedPipeline:
    """A published pipeline: a checked, frozen pipeline definition with a REST endpoint that runs
    it (``Pipeline.publish``, :meth:`get`, :meth:`list`)."""

    def __init__(self, name: str = "", graph_id: "Any" = None, description: str = "", version: str = "",
                 published_pipeline_id: str = "", status: str = "Active", endpoint: str = "",
                 total_run_steps: int = 0, workspace: "Any" = None, continue_on_step_failure: bool = False,
                 **kwargs: "Any") -> None:
        self._name = name
        self._description = description
        self._version = version
        self._id = published_pipeline_id
        self._status = status
        self._endpoint = endpoint
        self._total_run_steps = total_run_steps
        self._workspace = workspace
        self._continue_on_step_failure = continue_on_step_failure
        self._json: "Dict[str, Any]" = {}

    @classmethod
    def _from_json(cls, workspace: "Any", j: "Dict[str, Any]") -> "PublishedPipeline":
        p = cls(name=j.get("name", ""), description=j.get("description", ""), version=j.get("version", ""),
                published_pipeline_id=j["id"], status=j.get("status", "Active"), endpoint=j.get("endpoint", ""),
                total_run_steps=len(j.get("steps", [])), workspace=workspace,
                continue_on_step_failure=bool(j.get("continue_on_step_failure", False)))
        p._json = j
        return p

    id = property(lambda self: self._id, doc="The published pipeline's id.")
    name = property(lambda self: self._name)
    description = property(lambda self: self._description)
    version = property(lambda self: self._version)
    status = property(lambda self: self._status, doc="Active or Disabled.")
    endpoint = property(lambda self: self._endpoint, doc="The REST endpoint that submits it (POST, bearer token).")
    total_run_steps = property(lambda self: self._total_run_steps)
    continue_on_step_failure = property(lambda self: self._continue_on_step_failure)

    @staticmethod
    def get(workspace: "Any", id: str, _workflow_provider: "Any" = None,
            _service_endpoint: "Any" = None) -> "PublishedPipeline":
        """The published pipeline of that id."""
        return PublishedPipeline._from_json(workspace, workspace._client.call("GET", "/pipelines/" + _quote(id)))

    @staticmethod
    def list(workspace: "Any", active_only: bool = True, _service_endpoint: "Any" = None) -> "List[PublishedPipeline]":
        """The workspace's published pipelines (only the active ones unless ``active_only=False``)."""
        params = {"active_only": "true"} if active_only else None
        j = workspace._client.call("GET", "/pipelines", params=params)
        return [PublishedPipeline._from_json(workspace, p) for p in j["pipelines"]]

    @staticmethod
    def get_all(workspace: "Any", active_only: bool = True, _service_endpoint: "Any" = None) -> "List[PublishedPipeline]":
        """Deprecated in Azure for :meth:`list`; the same here."""
        return PublishedPipeline.list(workspace, active_only)

    @property
    def graph_id(self) -> "Optional[str]":
        """Azure's graph id; a Ferry published pipeline has none (its definition is in itself)."""
        return None

    def _set_status(self, action: str) -> None:
        j = self._workspace._client.call("POST", f"/pipelines/{_quote(self._id)}/{action}")
        self._status = j["status"]
        self._json = j

    def enable(self) -> None:
        """Let it be submitted (and its schedules fire) again."""
        self._set_status("enable")

    def disable(self) -> None:
        """Refuse its submits; its schedules' slots make no run while it is disabled."""
        self._set_status("disable")

    def submit(self, workspace: "Any", experiment_name: str, pipeline_parameters: "Optional[Dict[str, Any]]" = None,
               _workflow_provider: "Any" = None, _service_endpoint: "Any" = None, parent_run_id: "Any" = None,
               continue_on_step_failure: "Optional[bool]" = None) -> "Any":
        """Runs it in ``experiment_name``; returns the pipeline run."""
        body = _submit_body(experiment_name, pipeline_parameters)
        if continue_on_step_failure is not None:
            body["ContinueOnStepFailure"] = bool(continue_on_step_failure)
        j = workspace._client.call("POST", f"/pipelines/{_quote(self._id)}/submit", body)
        return _run_of(workspace, experiment_name, j["run"])

    def get_step_names(self) -> "List[str]":
        """The names of its steps."""
        return list(self._json.get("steps", []))

    def __repr__(self) -> str:
        return f"PublishedPipeline(Name: {self._name}, Id: {self._id}, Status: {self._status}, Endpoint: {self._endpoint})"


def _publish(workspace: "Any", spec_json: "Dict[str, Any]", name: str, description: "Optional[str]" = None,
             version: "Optional[str]" = None, continue_on_step_failure: "Optional[bool]" = None) -> PublishedPipeline:
    """``Pipeline.publish``: the definition (what ``POST /pipeline-runs`` takes) published under
    ``name``; the server checks it as a submit would."""
    body: "Dict[str, Any]" = {"name": name or "", "description": description or "", "version": version or "",
                              "pipeline": spec_json}
    if continue_on_step_failure is not None:
        body["continue_on_step_failure"] = bool(continue_on_step_failure)
    return PublishedPipeline._from_json(workspace, workspace._client.call("POST", "/pipelines", body))


class PipelineEndpoint:
    """A stable name in front of numbered versions of published pipelines, one the default
    (:meth:`publish`, :meth:`get`, :meth:`add_default`, :meth:`submit`)."""

    def __init__(self, workspace: "Any", id: str, name: str, description: str, status: str,
                 default_version: str, endpoint: str, pipeline_version_list: "Any" = None, **kwargs: "Any") -> None:
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._status = status
        self._default_version = default_version
        self._endpoint = endpoint
        self._versions: "List[Dict[str, str]]" = list(pipeline_version_list or [])

    @classmethod
    def _from_json(cls, workspace: "Any", j: "Dict[str, Any]") -> "PipelineEndpoint":
        return cls(workspace, j["id"], j["name"], j.get("description", ""), j["status"], j["default_version"],
                   j.get("endpoint", ""), j.get("pipelines", []))

    def _refresh(self, j: "Dict[str, Any]") -> None:
        self._status = j["status"]
        self._default_version = j["default_version"]
        self._versions = list(j.get("pipelines", []))

    id = property(lambda self: self._id)
    name = property(lambda self: self._name)
    description = property(lambda self: self._description)
    status = property(lambda self: self._status)
    default_version = property(lambda self: self._default_version, doc="The version submits run (a string).")
    endpoint = property(lambda self: self._endpoint)

    @staticmethod
    def publish(workspace: "Any", name: str, description: str, pipeline: "Any",
                _workflow_provider: "Any" = None, _service_endpoint: "Any" = None) -> "PipelineEndpoint":
        """A new endpoint whose version 0 is ``pipeline`` (a PublishedPipeline, or a Pipeline,
        which is published first under the endpoint's name)."""
        if not isinstance(pipeline, PublishedPipeline):
            pipeline = pipeline.publish(name=name, description=description)
        j = workspace._client.call("POST", "/pipeline-endpoints",
                                   {"name": name, "description": description or "", "pipeline_id": pipeline.id})
        return PipelineEndpoint._from_json(workspace, j)

    @staticmethod
    def get(workspace: "Any", id: "Optional[str]" = None, name: "Optional[str]" = None,
            _workflow_provider: "Any" = None, _service_endpoint: "Any" = None) -> "PipelineEndpoint":
        """The endpoint of that id or name."""
        key = id or name
        if not key:
            raise ValueError("ferry: PipelineEndpoint.get needs id or name")
        return PipelineEndpoint._from_json(workspace,
                                           workspace._client.call("GET", "/pipeline-endpoints/" + _quote(key)))

    @staticmethod
    def list(workspace: "Any", active_only: bool = True, _workflow_provider: "Any" = None,
             _service_endpoint: "Any" = None) -> "List[PipelineEndpoint]":
        params = {"active_only": "true"} if active_only else None
        j = workspace._client.call("GET", "/pipeline-endpoints", params=params)
        return [PipelineEndpoint._from_json(workspace, e) for e in j["pipeline_endpoints"]]

    def _add(self, pipeline: "Any", set_default: bool) -> None:
        if not isinstance(pipeline, PublishedPipeline):
            pipeline = pipeline.publish(name=self._name, description=self._description)
        j = self._workspace._client.call("POST", f"/pipeline-endpoints/{_quote(self._id)}/pipelines",
                                         {"pipeline_id": pipeline.id, "set_default": set_default})
        self._refresh(j)

    def add(self, pipeline: "Any") -> None:
        """Adds ``pipeline`` as the next version (the default stays)."""
        self._add(pipeline, False)

    def add_default(self, pipeline: "Any") -> None:
        """Adds ``pipeline`` as the next version and makes it the default."""
        self._add(pipeline, True)

    def set_default_version(self, version: "Any") -> None:
        j = self._workspace._client.call("PUT", f"/pipeline-endpoints/{_quote(self._id)}/default",
                                         {"version": str(version)})
        self._refresh(j)

    def set_default(self, pipeline: "Any") -> None:
        """Makes the (latest) version holding ``pipeline`` the default."""
        for v in reversed(self._versions):
            if v["pipeline_id"] == pipeline.id:
                self.set_default_version(v["version"])
                return
        raise ValueError(f"ferry: pipeline {pipeline.id} is no version of endpoint {self._name}; add it first")

    def get_default_version(self) -> str:
        return self._default_version

    def get_pipeline(self, version: "Any" = None) -> PublishedPipeline:
        """The published pipeline of ``version`` (default: the default version)."""
        v = str(self._default_version if version is None else version)
        for row in self._versions:
            if row["version"] == v:
                return PublishedPipeline.get(self._workspace, row["pipeline_id"])
        raise ValueError(f"ferry: endpoint {self._name} has no version {v}")

    def list_pipelines(self, active_only: bool = True, _workflow_provider: "Any" = None,
                       _service_endpoint: "Any" = None) -> "List[PublishedPipeline]":
        out = [PublishedPipeline.get(self._workspace, row["pipeline_id"]) for row in self._versions]
        return [p for p in out if p.status == "Active"] if active_only else out

    def list_versions(self) -> "List[Dict[str, str]]":
        """Each version as {"version", "pipeline_id"}."""
        return [dict(v) for v in self._versions]

    get_all_versions = list_versions
    pipeline_version_list = property(list_versions)

    @staticmethod
    def get_all(workspace: "Any", active_only: bool = True, _workflow_provider: "Any" = None,
                _service_endpoint: "Any" = None) -> "List[PipelineEndpoint]":
        """Deprecated in Azure for :meth:`list`; the same here."""
        return PipelineEndpoint.list(workspace, active_only)

    def get_all_pipelines(self, active_only: bool = True, _workflow_provider: "Any" = None,
                          _service_endpoint: "Any" = None) -> "List[PublishedPipeline]":
        return self.list_pipelines(active_only)

    def submit(self, experiment_name: str, pipeline_parameters: "Optional[Dict[str, Any]]" = None,
               parent_run_id: "Any" = None, pipeline_version: "Optional[str]" = None) -> "Any":
        """Runs the default version (or ``pipeline_version``) in ``experiment_name``."""
        body = _submit_body(experiment_name, pipeline_parameters, pipeline_version)
        j = self._workspace._client.call("POST", f"/pipeline-endpoints/{_quote(self._id)}/submit", body)
        return _run_of(self._workspace, experiment_name, j["run"])

    def enable(self) -> None:
        self._refresh(self._workspace._client.call("POST", f"/pipeline-endpoints/{_quote(self._id)}/enable"))

    def disable(self) -> None:
        self._refresh(self._workspace._client.call("POST", f"/pipeline-endpoints/{_quote(self._id)}/disable"))

    def archive(self) -> None:
        """Azure archives an endpoint; Ferry disables it (it refuses submits, and can be enabled)."""
        self.disable()

    def reactivate(self, name: "Optional[str]" = None) -> None:
        self.enable()

    def __repr__(self) -> str:
        return f"PipelineEndpoint(Name: {self._name}, Id: {self._id}, Status: {self._status}, " \
               f"Default version: {self._default_version})"


class ScheduleRecurrence:
    """When a schedule fires: every ``interval`` ``frequency`` ("Minute", "Hour", "Day", "Week",
    "Month") from ``start_time`` in ``time_zone``, or at ``hours``/``minutes``/``time_of_day``
    (Day, Week) on ``week_days`` (Week)."""

    def __init__(self, frequency: str, interval: int, start_time: "Any" = None, time_zone: "Any" = None,
                 hours: "Optional[List[int]]" = None, minutes: "Optional[List[int]]" = None,
                 week_days: "Optional[List[str]]" = None, time_of_day: "Optional[str]" = None) -> None:
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time
        self.time_zone = time_zone
        self.hours = hours
        self.minutes = minutes
        self.week_days = week_days
        self.time_of_day = time_of_day
        self.validate()

    def validate(self) -> None:
        """Azure's checks (the server checks again): frequency, interval, and the keys each
        frequency allows."""
        if self.frequency not in ("Minute", "Hour", "Day", "Week", "Month"):
            raise ValueError(f"ferry: frequency must be Minute, Hour, Day, Week or Month, got {self.frequency!r}")
        if not isinstance(self.interval, int) or self.interval < 1:
            raise ValueError(f"ferry: interval must be a whole number of at least 1, got {self.interval!r}")
        if (self.hours or self.minutes or self.time_of_day) and self.frequency not in ("Day", "Week"):
            raise ValueError("ferry: hours, minutes and time_of_day go with frequency Day or Week only")
        if self.week_days and self.frequency != "Week":
            raise ValueError("ferry: week_days go with frequency Week only")

    def _to_json(self) -> "Dict[str, Any]":
        start = self.start_time
        if isinstance(start, datetime.datetime):
            start = start.replace(tzinfo=None).isoformat(timespec="seconds")
        tz = self.time_zone
        if isinstance(tz, enum.Enum):
            tz = tz.value
        return {"frequency": self.frequency, "interval": self.interval, "start_time": start or "",
                "time_zone": tz or "UTC", "hours": list(self.hours or []), "minutes": list(self.minutes or []),
                "time_of_day": self.time_of_day or "", "week_days": list(self.week_days or [])}

    @classmethod
    def _from_json(cls, j: "Dict[str, Any]") -> "ScheduleRecurrence":
        r = cls.__new__(cls)
        r.frequency = j.get("frequency")
        r.interval = j.get("interval", 1)
        r.start_time = j.get("start_time") or None
        r.time_zone = j.get("time_zone") or None
        r.hours = j.get("hours") or None
        r.minutes = j.get("minutes") or None
        r.week_days = j.get("week_days") or None
        r.time_of_day = j.get("time_of_day") or None
        return r


class Schedule:
    """A schedule of a published pipeline (or a pipeline endpoint's default version): a
    recurrence, or a datastore path whose changes submit it (:meth:`create`)."""

    def __init__(self, workspace: "Any", id: str, name: str, description: str, pipeline_id: str, status: str,
                 recurrence: "Optional[ScheduleRecurrence]", datastore_name: "Optional[str]",
                 polling_interval: int, data_path_parameter_name: "Optional[str]",
                 continue_on_step_failure: "Optional[bool]", path_on_datastore: "Optional[str]",
                 _schedule_provider: "Any" = None, pipeline_endpoint_id: "Optional[str]" = None) -> None:
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._pipeline_id = pipeline_id
        self._pipeline_endpoint_id = pipeline_endpoint_id
        self._status = status
        self._recurrence = recurrence
        self._datastore_name = datastore_name
        self._polling_interval = polling_interval
        self._data_path_parameter_name = data_path_parameter_name
        self._continue_on_step_failure = continue_on_step_failure
        self._path_on_datastore = path_on_datastore
        self._json: "Dict[str, Any]" = {}

    @classmethod
    def _from_json(cls, workspace: "Any", j: "Dict[str, Any]") -> "Schedule":
        rec = ScheduleRecurrence._from_json(j["recurrence"]) if j.get("recurrence") else None
        s = cls(workspace, j["id"], j["name"], j.get("description", ""), j.get("pipeline_id", ""), j["status"], rec,
                j.get("datastore_name") or None, j.get("polling_interval", 5),
                j.get("data_path_parameter_name") or None, j.get("continue_on_step_failure"),
                j.get("path_on_datastore") or None, pipeline_endpoint_id=j.get("pipeline_endpoint_id") or None)
        s._json = j
        return s

    id = property(lambda self: self._id)
    name = property(lambda self: self._name)
    description = property(lambda self: self._description)
    pipeline_id = property(lambda self: self._pipeline_id)
    pipeline_endpoint_id = property(lambda self: self._pipeline_endpoint_id)
    status = property(lambda self: self._status, doc="Active or Disabled.")
    recurrence = property(lambda self: self._recurrence)
    datastore_name = property(lambda self: self._datastore_name)
    polling_interval = property(lambda self: self._polling_interval)
    data_path_parameter_name = property(lambda self: self._data_path_parameter_name)
    path_on_datastore = property(lambda self: self._path_on_datastore)
    continue_on_step_failure = property(lambda self: self._continue_on_step_failure)

    @staticmethod
    def create(workspace: "Any", name: str, pipeline_id: "Optional[str]" = None, experiment_name: str = "",
               recurrence: "Optional[ScheduleRecurrence]" = None, description: "Optional[str]" = None,
               pipeline_parameters: "Optional[Dict[str, Any]]" = None, wait_for_provisioning: bool = False,
               wait_timeout: int = 3600, datastore: "Any" = None, polling_interval: int = 5,
               data_path_parameter_name: "Optional[str]" = None, continue_on_step_failure: "Optional[bool]" = None,
               path_on_datastore: "Optional[str]" = None, _workflow_provider: "Any" = None,
               _service_endpoint: "Any" = None, pipeline_endpoint_id: "Optional[str]" = None) -> "Schedule":
        """A schedule that submits the pipeline into ``experiment_name``: on ``recurrence``, or
        when files under ``path_on_datastore`` of ``datastore`` change (polled every
        ``polling_interval`` minutes; the changed path goes to ``data_path_parameter_name``)."""
        if (recurrence is None) == (datastore is None):
            raise ValueError("ferry: give a schedule either recurrence or datastore, not both or neither")
        body: "Dict[str, Any]" = {
            "name": name, "description": description or "", "experiment_name": experiment_name,
            "pipeline_parameters": dict(pipeline_parameters or {}), "wait_for_provisioning": wait_for_provisioning,
            "wait_timeout": wait_timeout,
        }
        if pipeline_id:
            body["pipeline_id"] = pipeline_id
        if pipeline_endpoint_id:
            body["pipeline_endpoint_id"] = pipeline_endpoint_id
        if recurrence is not None:
            body["recurrence"] = recurrence._to_json()
        else:
            body["datastore_name"] = datastore if isinstance(datastore, str) else datastore.name
            body["polling_interval"] = polling_interval
            body["data_path_parameter_name"] = data_path_parameter_name or ""
            body["path_on_datastore"] = path_on_datastore or ""
        if continue_on_step_failure is not None:
            body["continue_on_step_failure"] = bool(continue_on_step_failure)
        return Schedule._from_json(workspace, workspace._client.call("POST", "/schedules", body))

    @staticmethod
    def create_for_pipeline_endpoint(workspace: "Any", name: str, pipeline_endpoint_id: str, experiment_name: str,
                                     **kwargs: "Any") -> "Schedule":
        return Schedule.create(workspace, name, experiment_name=experiment_name,
                               pipeline_endpoint_id=pipeline_endpoint_id, **kwargs)

    @staticmethod
    def get(workspace: "Any", id: str, _workflow_provider: "Any" = None, _service_endpoint: "Any" = None) -> "Schedule":
        return Schedule._from_json(workspace, workspace._client.call("GET", "/schedules/" + _quote(id)))

    @staticmethod
    def list(workspace: "Any", active_only: bool = True, pipeline_id: "Optional[str]" = None,
             pipeline_endpoint_id: "Optional[str]" = None, _workflow_provider: "Any" = None,
             _service_endpoint: "Any" = None) -> "List[Schedule]":
        params: "Dict[str, str]" = {}
        if active_only:
            params["active_only"] = "true"
        if pipeline_id:
            params["pipeline_id"] = pipeline_id
        if pipeline_endpoint_id:
            params["pipeline_endpoint_id"] = pipeline_endpoint_id
        j = workspace._client.call("GET", "/schedules", params=params or None)
        return [Schedule._from_json(workspace, s) for s in j["schedules"]]

    @staticmethod
    def get_all(workspace: "Any", active_only: bool = True, pipeline_id: "Optional[str]" = None,
                pipeline_endpoint_id: "Optional[str]" = None, _workflow_provider: "Any" = None,
                _service_endpoint: "Any" = None) -> "List[Schedule]":
        """Deprecated in Azure for :meth:`list`; the same here."""
        return Schedule.list(workspace, active_only, pipeline_id, pipeline_endpoint_id)

    @staticmethod
    def get_schedules_for_pipeline_id(workspace: "Any", pipeline_id: str, **kwargs: "Any") -> "List[Schedule]":
        return Schedule.list(workspace, active_only=False, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(workspace: "Any", pipeline_endpoint_id: str,
                                               **kwargs: "Any") -> "List[Schedule]":
        return Schedule.list(workspace, active_only=False, pipeline_endpoint_id=pipeline_endpoint_id)

    def _patch(self, body: "Dict[str, Any]") -> None:
        j = self._workspace._client.call("PATCH", "/schedules/" + _quote(self._id), body)
        self.__dict__.update(Schedule._from_json(self._workspace, j).__dict__)

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        j = self._workspace._client.call("POST", f"/schedules/{_quote(self._id)}/enable")
        self.__dict__.update(Schedule._from_json(self._workspace, j).__dict__)

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        j = self._workspace._client.call("POST", f"/schedules/{_quote(self._id)}/disable")
        self.__dict__.update(Schedule._from_json(self._workspace, j).__dict__)

    def update(self, name: "Optional[str]" = None, description: "Optional[str]" = None,
               recurrence: "Optional[ScheduleRecurrence]" = None,
               pipeline_parameters: "Optional[Dict[str, Any]]" = None, status: "Optional[str]" = None,
               wait_for_provisioning: "Optional[bool]" = None, wait_timeout: "Optional[int]" = None,
               datastore: "Any" = None, polling_interval: "Optional[int]" = None,
               data_path_parameter_name: "Optional[str]" = None,
               continue_on_step_failure: "Optional[bool]" = None, path_on_datastore: "Optional[str]" = None) -> None:
        """Changes what is given; the rest stays."""
        body: "Dict[str, Any]" = {}
        for key, value in (("name", name), ("description", description), ("pipeline_parameters", pipeline_parameters),
                           ("status", status), ("wait_for_provisioning", wait_for_provisioning),
                           ("wait_timeout", wait_timeout), ("polling_interval", polling_interval),
                           ("data_path_parameter_name", data_path_parameter_name),
                           ("continue_on_step_failure", continue_on_step_failure),
                           ("path_on_datastore", path_on_datastore)):
            if value is not None:
                body[key] = value
        if recurrence is not None:
            body["recurrence"] = recurrence._to_json()
        if datastore is not None:
            body["datastore_name"] = datastore if isinstance(datastore, str) else datastore.name
        if body:
            self._patch(body)

    def get_pipeline_runs(self) -> "List[Any]":
        """The pipeline runs it made, newest first."""
        j = self._workspace._client.call("GET", f"/schedules/{_quote(self._id)}/runs")
        return [_run_of(self._workspace, r.get("experiment", ""), r) for r in j["runs"]]

    def get_last_pipeline_run(self) -> "Optional[Any]":
        """The last pipeline run it made, or None."""
        j = self._workspace._client.call("GET", f"/schedules/{_quote(self._id)}/runs", params={"limit": 1})
        runs = j["runs"]
        return _run_of(self._workspace, runs[0].get("experiment", ""), runs[0]) if runs else None

    def _wait_for_provisioning(self, timeout: int = 3600) -> None:
        """Nothing to wait for: a Ferry schedule is active once created."""

    def __repr__(self) -> str:
        return f"Pipeline(Id: {self._id}, Name: {self._name}, Status: {self._status}, " \
               f"Pipeline Id: {self._pipeline_id or self._pipeline_endpoint_id})"
