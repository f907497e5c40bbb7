"""Ferry's data classes with Azure ML SDK v1's module paths (``azureml.data`` ->
``ferry.data``): FileDataset, TabularDataset, DataReference, DataPath, OutputFileDatasetConfig,
DatasetConsumptionConfig. Imported on first use."""

_LAZY = {
    "FileDataset": "_dataset",
    "TabularDataset": "_dataset",
    "DataReference": "data_reference",
    "DataPath": "datapath",
    "DataPathComputeBinding": "datapath",
    "OutputFileDatasetConfig": "output_dataset_config",
    "OutputDatasetConfig": "output_dataset_config",
    "DatasetConsumptionConfig": "dataset_consumption_config",
    "DataType": "dataset_factory",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ferry.data' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module("." + module, __name__), name)
