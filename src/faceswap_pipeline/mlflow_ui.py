"""The address at which the MLflow UI shows this project's runs (`make mlflow-ui` prints it).

MLflow 3.17's UI opens every experiment in its GenAI view (overview, traces, token usage) unless the
address asks for the model-training view (`?workflowType=machine_learning`; its "Model training"
toggle does the same and is remembered by the browser). The experiment is also tagged
`mlflow.experimentKind: custom_model_development` (conf/base/mlflow.yml), MLflow's record of its
kind.
"""

from __future__ import annotations

import argparse

EXPERIMENT = "faceswap_pipeline"


def runs_url(tracking_uri: str, base_url: str = "http://127.0.0.1:5000") -> str:
    """The UI address of the experiment's runs table, or of the experiment list before the first
    run."""
    import mlflow

    from faceswap_pipeline.mlflow_store import prepare_tracking_store

    prepare_tracking_store(tracking_uri)  # `mlflow ui` next opens the same store; a run may too
    experiment = mlflow.MlflowClient(tracking_uri=tracking_uri).get_experiment_by_name(EXPERIMENT)
    where = f"experiments/{experiment.experiment_id}" if experiment is not None else "experiments"
    return f"{base_url}/#/{where}?workflowType=machine_learning"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    args = parser.parse_args()
    print(f"The runs of {EXPERIMENT}: {runs_url(args.tracking_uri, args.base_url)}")  # noqa: T201


if __name__ == "__main__":
    main()
