"""Ridge regression on the scikit-learn diabetes dataset, logged with Ferry.

Runs unchanged inside a Ferry run (metrics go to the Ferry server) or locally
(offline: metrics are printed to stderr)::

    python train.py --alpha 0.1
"""

import argparse
import os

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from ferry import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.5, help="Ridge regularization strength")
    parser.add_argument("--output-dir", default="outputs", help="where to write model.pkl")
    args = parser.parse_args()

    run = Run.get_context()
    mode = "offline" if run.offline else f"run {run.id} (experiment {run.experiment_name})"
    print(f"ferry: {mode}", flush=True)

    print("loading diabetes dataset", flush=True)
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    print(f"train={len(X_train)} test={len(X_test)} features={X.shape[1]}", flush=True)

    run.log("alpha", args.alpha)
    print(f"fitting Ridge(alpha={args.alpha})", flush=True)
    model = Ridge(alpha=args.alpha).fit(X_train, y_train)

    mse = mean_squared_error(y_test, model.predict(X_test))
    run.log("mse", float(mse))
    print(f"mse={mse:.4f}", flush=True)

    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "model.pkl")
    joblib.dump(model, path)
    print(f"saved model to {path}", flush=True)


if __name__ == "__main__":
    main()
