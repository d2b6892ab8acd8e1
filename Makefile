# Quick start: `make run` (the whole pipeline) and `make test` (the test suite).
# Each sets up what it needs on a fresh machine: a virtual environment in .venv, torch, then the
# project with its dev extra. Idempotent: once installed, the install step is skipped until
# pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
# A CPU wheel of torch 2.13.0 lies on local disk on the project's machines; an open range would pull
# a multi-GB CUDA build first. Override on a GPU machine, e.g. `make run TORCH_SPEC="torch==2.13.0"`.
TORCH_SPEC ?= torch==2.13.0
PIP = $(VENV)/bin/python -m pip
STAMP = $(VENV)/.installed
PIPELINE ?=
PYTEST_ARGS ?=

export KEDRO_DISABLE_TELEMETRY = 1
export DO_NOT_TRACK = 1
export MLFLOW_DISABLE_TELEMETRY = true

.PHONY: install run test lint viz mlflow-ui clean-data

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The main job: `make run` runs every pipeline; `make run PIPELINE=ingestion` runs one.
run: install
	$(VENV)/bin/kedro run $(if $(PIPELINE),--pipelines $(PIPELINE),)

## The tests, the way CI runs them.
test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

## Kedro-Viz and the MLflow UI listen on 127.0.0.1 only.
viz: install
	$(VENV)/bin/kedro viz run --host 127.0.0.1 --port 4141 --no-browser

mlflow-ui: install
	@$(VENV)/bin/python -m faceswap_pipeline.mlflow_ui --tracking-uri sqlite:///$(CURDIR)/mlflow.db
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000
