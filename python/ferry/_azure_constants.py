"""Azure ML SDK v1's module constants that mean the same on Ferry (exported through the tree)."""

OUTPUTS_DIR = "./outputs"  # what a run's script writes here is kept with the run
WORKSPACE_DEFAULT_BLOB_STORE_NAME = "workspaceblobstore"  # the workspace's own store (docs/data.md)
