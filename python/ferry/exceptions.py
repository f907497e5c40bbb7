"""The SDK's exceptions (as Azure ML had ``azureml.exceptions``): all are :class:`FerryError`.

The server answers an error as ``{"error": {"code", "message"}}`` (its MLflow API as
``{"error_code", "message"}``); :func:`error_for` picks the class from that code, else from the
HTTP status. Catch :class:`FerryError` for any of them, or one class for one cause::

    try:
        Run.get(ws, run_id)
    except NotFoundError:
        ...

Standard library only, no imports: ``import ferry`` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Tuple, Type


class FerryError(Exception):
    """An error answered by the Ferry server (or reaching it).

    :ivar status: the HTTP status (0 when the server could not be reached, or the SDK itself
        found the fault).
    :ivar code: the server's error code (``NotFound``, ``InvalidArgument``...; the MLflow API's
        ``RESOURCE_DOES_NOT_EXIST``...), or the SDK's own (``RunFailed``).
    """

    def __init__(self, message: str, status: "Any" = 0, code: str = "", *,
                 inner_exception: "Any" = None, **_azure: "Any") -> None:
        if isinstance(status, BaseException):  # Azure's positional (message, inner_exception)
            status, inner_exception = 0, status
        super().__init__(message)
        self.status = status
        self.code = code
        # Azure's members: the error that led to this one (an exception or its text). Azure's
        # other keywords (target, details, reference_code...) are accepted and not used.
        self.inner_exception = inner_exception

    @property
    def message(self) -> str:
        """The error's message (Azure's ``AzureMLException.message``); assignable."""
        return str(self.args[0]) if self.args else ""

    @message.setter
    def message(self, value: str) -> None:
        self.args = (value,) + tuple(self.args[1:])

    def print_stacktrace(self, file: "Any" = None) -> None:
        """Print this error's traceback, with the errors it was raised from or during (as Python
        prints an uncaught one), to ``file`` (default stderr)."""
        import traceback

        traceback.print_exception(type(self), self, self.__traceback__, file=file)

    def __reduce__(self) -> "Tuple[Any, ...]":  # pickles with its status and code (multiprocessing)
        return (type(self), (str(self), self.status, self.code))


class InvalidArgumentError(FerryError):
    """400: the request is malformed or a field's value is refused (the message names it)."""


class AuthenticationError(FerryError):
    """401: no token, or the server does not know it."""


class PermissionDeniedError(FerryError):
    """403: the token is valid but its user's role (or the run's owner) does not allow this."""


class NotFoundError(FerryError):
    """404: no such run, experiment, environment, compute target or file."""


class ConflictError(FerryError):
    """409: the thing is not in a state that allows this (a run that has ended takes no more
    data; a name that exists already)."""


class PayloadTooLargeError(FerryError):
    """413: the request body is larger than the endpoint takes; send less per request."""


class ServerUnavailableError(FerryError):
    """503, or nothing answers at the server's address (connection refused: is ``ferry server``
    running?)."""


class FerryConnectionError(FerryError, ConnectionError):
    """The connection to the server failed (reset, timed out, name or TLS failure) after it was
    made or while making it; ``status`` is 0. Also a built-in :class:`ConnectionError`."""


# Azure ML SDK v1's exception names (``azureml.exceptions``). Every one is a FerryError, and
# ``AzureMLException`` is FerryError itself, so ``except AzureMLException`` catches everything the
# SDK raises, as it did on Azure. Where Azure's name means one of the causes above, the class is
# also that cause's (a missing model is a NotFoundError).
AzureMLException = FerryError


class UserErrorException(FerryError):
    """The call's input is wrong (Azure's name; the message says which value and what to do)."""


class ServiceException(FerryError):
    """The server failed to do what was asked (Azure's name for a service-side error)."""


class AuthenticationException(AuthenticationError):
    """Azure's name for :class:`AuthenticationError`."""


class ComputeTargetException(FerryError):
    """A compute target is missing, or attaching/creating/detaching one failed (the server's reason)."""


class WorkspaceException(FerryError):
    """A workspace cannot be found or reached (its config file, name or server)."""


class ExperimentExecutionException(FerryError):
    """A submission was refused: the configuration or what it names is wrong."""


class ActivityFailedException(FerryError):
    """A run ended Failed while waiting on it with ``raise_on_error`` (code ``RunFailed``)."""


class RunConfigurationException(UserErrorException):
    """A run configuration (or a ``.runconfig`` file) is invalid."""


class RunEnvironmentException(FerryError):
    """The in-script run context cannot be set up (e.g. its metrics file cannot be opened)."""


class SnapshotException(FerryError):
    """Taking or restoring a snapshot of the source directory failed."""


class TrainingException(FerryError):
    """An estimator or sweep configuration is invalid."""


class ModelNotFoundException(NotFoundError):
    """No such registered model or version."""


class ModelPathNotFoundException(NotFoundError):
    """A model's files are not where ``Model.get_model_path`` looks."""


class DatasetTimestampMissingError(UserErrorException):
    """A time-series operation on a tabular dataset that has no timestamp column."""


class ProjectSystemException(FerryError):
    """A project folder's configuration (``.ferry/``) cannot be read or written."""


class ParallelRunException(FerryError):
    """A parallel batch step failed (pipelines)."""


class WebserviceException(FerryError):
    """Azure's model deployment errors; Ferry does not deploy web services."""


class DiscoveryUrlNotFoundException(FerryError):
    """Azure's service discovery; Ferry has none (a workspace is a server URL)."""


class WorkspacePrivateEndpointException(FerryError):
    """Azure's private endpoints; Ferry has none (bind the server where it should listen)."""


class AzureMLAggregatedException(FerryError):
    """Several errors at once; ``errors`` holds each."""

    def __init__(self, message: str, status: "Any" = 0, code: str = "", errors: "Any" = None,
                 **kwargs: "Any") -> None:
        super().__init__(message, status, code, **kwargs)
        self.errors = list(errors or [])


_BY_STATUS: "Dict[int, Type[FerryError]]" = {
    400: InvalidArgumentError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    503: ServerUnavailableError,
}

# The server's codes (src/common/status.cc StatusCodeName, src/net/http_server.cc) and its MLflow
# API's (src/server/mlflow_api_common.cc). A code decides over the status: MLflow answers an
# existing name 400 RESOURCE_ALREADY_EXISTS, a conflict.
_BY_CODE: "Dict[str, Type[FerryError]]" = {
    "InvalidArgument": InvalidArgumentError,
    "BadRequest": InvalidArgumentError,
    "INVALID_PARAMETER_VALUE": InvalidArgumentError,
    "Unauthenticated": AuthenticationError,
    "UNAUTHENTICATED": AuthenticationError,
    "PermissionDenied": PermissionDeniedError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NotFound": NotFoundError,
    "RESOURCE_DOES_NOT_EXIST": NotFoundError,
    "AlreadyExists": ConflictError,
    "FailedPrecondition": ConflictError,
    "RESOURCE_ALREADY_EXISTS": ConflictError,
    "RunFailed": ActivityFailedException,
    "INVALID_STATE": ConflictError,
    "PayloadTooLarge": PayloadTooLargeError,
    "Unavailable": ServerUnavailableError,
    "TEMPORARILY_UNAVAILABLE": ServerUnavailableError,
}


def error_for(message: str, status: int, code: str = "") -> FerryError:
    """The exception for an error answer: its class from the code, else from the HTTP status
    (:class:`FerryError` itself for any other, e.g. 500)."""
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, FerryError)
    return cls(message, status, code)


__all__ = [
    "FerryError",
    "InvalidArgumentError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "ServerUnavailableError",
    "FerryConnectionError",
    "error_for",
    "AzureMLException",
    "UserErrorException",
    "ServiceException",
    "AuthenticationException",
    "ComputeTargetException",
    "WorkspaceException",
    "ExperimentExecutionException",
    "ActivityFailedException",
    "RunConfigurationException",
    "RunEnvironmentException",
    "SnapshotException",
    "TrainingException",
    "ModelNotFoundException",
    "ModelPathNotFoundException",
    "DatasetTimestampMissingError",
    "ProjectSystemException",
    "ParallelRunException",
    "WebserviceException",
    "DiscoveryUrlNotFoundException",
    "WorkspacePrivateEndpointException",
    "AzureMLAggregatedException",
]
