"""``azureml.core.authentication``: where a workspace's token comes from.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    n: "ferry.authentication" for n in (
        "AbstractAuthentication", "AccessToken", "ArmTokenAuthentication", "Audience", "AzureCliAuthentication",
        "AzureMLTokenAuthentication", "InteractiveLoginAuthentication", "MsiAuthentication",
        "ServicePrincipalAuthentication", "TokenAuthentication")
})
