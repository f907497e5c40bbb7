"""Azure's exception members on every class of ferry.exceptions: message, inner_exception,
print_stacktrace (Azure ML SDK v1 code reads them in its except blocks)."""

import io
import pickle

import pytest

import ferry.exceptions as fx

AZURE_NAMES = [
    "ActivityFailedException", "AuthenticationException", "AzureMLAggregatedException",
    "AzureMLException", "ComputeTargetException", "DatasetTimestampMissingError",
    "DiscoveryUrlNotFoundException", "ExperimentExecutionException", "ModelNotFoundException",
    "ModelPathNotFoundException", "ParallelRunException", "ProjectSystemException",
    "RunConfigurationException", "RunEnvironmentException", "ServiceException", "SnapshotException",
    "TrainingException", "UserErrorException", "WebserviceException", "WorkspaceException",
    "WorkspacePrivateEndpointException",
]


@pytest.mark.parametrize("name", AZURE_NAMES)
def test_every_azure_class_has_the_members(name):
    cls = getattr(fx, name)
    cause = ValueError("bad shape")
    err = cls("could not load the model", inner_exception=cause)
    assert err.message == "could not load the model"
    assert err.inner_exception is cause
    assert str(err) == "could not load the model"
    # Catchable as Azure's base, as on Azure.
    assert isinstance(err, fx.AzureMLException)


def test_inner_exception_positional_as_azure_passes_it():
    cause = KeyError("k")
    err = fx.UserErrorException("wrong input", cause)
    assert err.inner_exception is cause
    assert err.status == 0
    assert fx.UserErrorException("plain").inner_exception is None


def test_message_is_assignable_and_str_follows():
    err = fx.ServiceException("first")
    err.message = "second"
    assert err.message == "second"
    assert str(err) == "second"


def test_azure_only_keywords_are_accepted():
    err = fx.AzureMLException("m", target="model", details=["x"], reference_code="r")
    assert err.message == "m"


def test_server_errors_keep_status_and_code():
    err = fx.error_for("no such run", 404, "NotFound")
    assert isinstance(err, fx.NotFoundError)
    assert (err.message, err.status, err.code, err.inner_exception) == ("no such run", 404, "NotFound", None)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.status, copy.code) == ("no such run", 404, "NotFound")


def test_print_stacktrace_shows_the_raise_and_its_cause():
    def load():
        raise ValueError("bad shape")

    try:
        try:
            load()
        except ValueError as e:
            raise fx.ModelPathNotFoundException("model files not found", inner_exception=e) from e
    except fx.AzureMLException as err:
        out = io.StringIO()
        err.print_stacktrace(file=out)
        text = out.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "in load" in text and "ValueError: bad shape" in text
    assert "ModelPathNotFoundException: model files not found" in text


def test_print_stacktrace_of_an_error_never_raised(capsys):
    fx.TrainingException("bad sweep").print_stacktrace()
    assert "TrainingException: bad sweep" in capsys.readouterr().err
