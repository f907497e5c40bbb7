"""``azureml.widgets``: :class:`RunDetails`, a run's progress in a notebook.

In Jupyter with ``ipywidgets`` installed, :meth:`RunDetails.show` displays a live view (status,
child runs, a chart of a metric) refreshed by polling the server until the run ends. Elsewhere
(no ipywidgets, a plain Python shell) it shows the same facts once, as HTML in a notebook or
as text, with the link to the run's page in Studio.
"""

from __future__ import annotations

import html
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .run import Run

__all__ = ["RunDetails"]

_TERMINAL = ("Completed", "Failed", "Canceled")
_CHART_POINTS = 200  # points per metric fetched for the chart


def _ipython() -> "Any":
    """The running IPython shell (a notebook's kernel), or None."""
    import sys

    mod = sys.modules.get("IPython")
    get = getattr(mod, "get_ipython", None) if mod is not None else None
    return get() if get is not None else None


def _ipywidgets() -> "Any":
    try:
        import ipywidgets  # type: ignore[import-not-found]
    except ImportError:
        return None
    return ipywidgets


def _fmt(v: "Any") -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        text = repr(v)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(v)


class RunDetails:
    """``RunDetails(run).show()``: a run's status, metrics and child runs in a notebook.

    :param run_instance: a :class:`ferry.Run` bound to a workspace (``experiment.submit(...)``,
        ``Run.get(...)``, ``experiment.start_logging()``).
    """

    def __init__(self, run_instance: "Run", poll_seconds: float = 5.0) -> None:
        if getattr(run_instance, "_ws", None) is None:
            raise ValueError("ferry: RunDetails needs a run bound to a workspace (experiment.submit(...) or "
                             "Run.get(workspace, run_id)), not the run of a script")
        self.run_instance = run_instance
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: "Optional[threading.Thread]" = None
        self.widget: "Any" = None  # the live view's ipywidgets.HTML, once shown

    # ------------------------------------------------------------------ data
    @property
    def studio_url(self) -> str:
        """The run's page in Ferry Studio."""
        return self.run_instance.get_portal_url()

    def get_widget_data(self, widget_settings: "Optional[Dict[str, Any]]" = None) -> "Dict[str, Any]":
        """What the view shows, read from the server now: run_id, status, studio_url, metrics
        (the latest value of each), series (numeric metrics' points for the chart), children
        (id, status and primary-metric value of each child run), error."""
        from . import _remote_run

        run = self.run_instance
        client = run._client()
        data = run._refresh()
        answer = client.call("GET", f"/runs/{run.id}/metrics", params={"max_points": _CHART_POINTS})
        series = {k: [(p["step"], _remote_run._number(p["value"])) for p in pts]
                  for k, pts in answer["metrics"].items()}
        metrics: "Dict[str, Any]" = {k: pts[-1][1] for k, pts in series.items() if pts}
        for k, items in (answer.get("values") or {}).items():
            last = items[-1]
            metrics[k] = "(table)" if last["type"] in ("row", "table") else last["value"]
        children: "List[Dict[str, Any]]" = []
        for c in _remote_run.list_runs(client, parent=run.id):
            children.append({"run_id": c["id"], "status": _remote_run.azure_status(c),
                             "tags": c.get("tags") or {}})
        return {
            "run_id": run.id,
            "experiment": data.get("experiment"),
            "status": _remote_run.azure_status(data),
            "studio_url": self.studio_url,
            "metrics": metrics,
            "series": series,
            "children": children,
            "error": data.get("error") or None,
        }

    # ---------------------------------------------------------------- render
    def text(self, data: "Optional[Dict[str, Any]]" = None) -> str:
        """The view as plain text."""
        d = data or self.get_widget_data()
        lines = [f"Run {d['run_id']} ({d['experiment']}): {d['status']}", f"Studio: {d['studio_url']}"]
        if d["error"]:
            lines.append(f"Error: {d['error']}")
        if d["metrics"]:
            lines.append("Metrics:")
            width = max(len(k) for k in d["metrics"])
            lines += [f"  {k.ljust(width)}  {_fmt(v)}" for k, v in sorted(d["metrics"].items())]
        if d["children"]:
            lines.append(f"Child runs ({len(d['children'])}):")
            lines += [f"  {c['run_id']}  {c['status']}" for c in d["children"]]
        return "\n".join(lines)

    def html(self, data: "Optional[Dict[str, Any]]" = None) -> str:
        """The view as an HTML fragment (status, a chart of the first numeric metric, tables)."""
        d = data or self.get_widget_data()
        e = html.escape
        parts = [f"<div class='ferry-run-details'><p><b>Run</b> {e(d['run_id'])} ({e(str(d['experiment']))}): "
                 f"<b>{e(d['status'])}</b> &middot; <a href='{e(d['studio_url'])}' target='_blank'>"
                 "open in Ferry Studio</a></p>"]
        if d["error"]:
            parts.append(f"<pre>{e(str(d['error']))}</pre>")
        chart = next((k for k, pts in sorted(d["series"].items()) if len(pts) > 1), None)
        if chart:
            parts.append(f"<p>{e(chart)}</p>" + _svg(d["series"][chart]))
        if d["metrics"]:
            rows = "".join(f"<tr><td>{e(k)}</td><td>{e(_fmt(v))}</td></tr>" for k, v in sorted(d["metrics"].items()))
            parts.append(f"<table><tr><th>Metric</th><th>Value</th></tr>{rows}</table>")
        if d["children"]:
            rows = "".join(f"<tr><td>{e(c['run_id'])}</td><td>{e(c['status'])}</td></tr>" for c in d["children"])
            parts.append(f"<table><tr><th>Child run</th><th>Status</th></tr>{rows}</table>")
        parts.append("</div>")
        return "".join(parts)

    def show(self) -> None:
        """Display the view: live in Jupyter with ipywidgets (polled every ``poll_seconds``
        until the run ends), else once (HTML in a notebook, text elsewhere)."""
        shell = _ipython()
        widgets = _ipywidgets() if shell is not None else None
        if widgets is None:
            d = self.get_widget_data()
            if shell is not None:
                from IPython.display import HTML, display  # type: ignore[import-not-found]

                display(HTML(self.html(d)))
            else:
                print(self.text(d))
            return
        from IPython.display import display  # type: ignore[import-not-found]

        view = self.widget = widgets.HTML(value=self.html())
        display(view)
        self._stop.clear()

        def poll() -> None:
            while not self._stop.wait(self.poll_seconds):
                try:
                    d = self.get_widget_data()
                except Exception as exc:  # the server away for a moment: say so, keep polling
                    view.value = view.value.split("<p class='ferry-note'>")[0] + \
                        f"<p class='ferry-note'>(cannot refresh: {html.escape(str(exc))})</p>"
                    continue
                view.value = self.html(d)
                if d["status"] in _TERMINAL:
                    return

        self._thread = threading.Thread(target=poll, name="ferry-run-details", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing a live view."""
        self._stop.set()


def _svg(points: "List[Any]", width: int = 360, height: int = 120) -> str:
    """A line chart of (step, value) points as inline SVG (non-finite values left out)."""
    import math

    pts = [(float(s), float(v)) for s, v in points if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(pts) < 2:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (width - 10) / ((x1 - x0) or 1)
    sy = (height - 10) / ((y1 - y0) or 1)
    path = " ".join(f"{5 + (x - x0) * sx:.1f},{height - 5 - (y - y0) * sy:.1f}" for x, y in pts)
    return (f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
            f"<polyline fill='none' stroke='#2563eb' stroke-width='1.5' points='{path}'/>"
            f"<text x='5' y='12' font-size='10'>{y1:.4g}</text>"
            f"<text x='5' y='{height - 2}' font-size='10'>{y0:.4g}</text></svg>")
