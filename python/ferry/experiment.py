"""The :class:`Experiment`: a named group of runs in a workspace."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, Iterator, Optional

    from .run import Run
    from .workspace import Workspace


class Experiment:
    """``Experiment(workspace, name)``: the experiment of that name (created on first use)."""

    def __init__(self, workspace: "Workspace", name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("ferry: an experiment needs a non-empty name")
        self.workspace = workspace
        self.name = name

    def get_runs(self, tags: "Optional[Dict[str, str]]" = None, include_children: bool = False) -> "Iterator[Run]":
        """The experiment's runs, newest first (sweeps' trials only with include_children);
        with ``tags``, only runs carrying every one of them."""
        from . import _remote_run
        from .run import Run

        for r in _remote_run.list_runs(self.workspace._client, experiment=self.name,
                                       include_children="true" if include_children else None):
            if tags and any(r.get("tags", {}).get(k) != v for k, v in tags.items()):
                continue
            yield Run._bound(self.workspace, r["id"], r)

    def __repr__(self) -> str:
        return f"<ferry.Experiment {self.name!r} in {self.workspace.url}>"
