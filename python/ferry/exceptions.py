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

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

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
]
