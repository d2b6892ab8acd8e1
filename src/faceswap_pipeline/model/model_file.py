"""Swap model files: weights in safetensors (no pickle, so loading runs no code) plus a JSON
configuration.

A model folder holds `model.safetensors` (its metadata carries the configuration too, the
authoritative copy, and who the model was trained on) and `config.json` (the same configuration, for
people and other tools).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from faceswap_pipeline.atomic_files import atomic_output
from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.model.networks import PERSONS, ModelConfig, SwapModel

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class ModelFileError(FaceswapError, ValueError):
    """A model folder is missing, unreadable, or its weights do not fit its architecture."""


def _write_atomically(path: Path, write) -> None:
    """Write through `write(temp_path)` next to `path`, then rename: a reader never sees half a
    file."""
    with atomic_output(path, prefix=f".{path.name}.") as temporary:
        write(temporary)


def unreadable_model_file_errors() -> tuple[type[Exception], ...]:
    """What reading a model folder's safetensors metadata raises when the file is not one this
    version can read (damaged, another format, missing or malformed metadata)."""
    from safetensors import SafetensorError

    return (SafetensorError, OSError, KeyError, json.JSONDecodeError, TypeError, ValueError)


def write_model_folder(
    directory: str | Path, module: torch.nn.Module, metadata: dict[str, str], config_text: str
) -> Path:
    """A model folder: `model.safetensors` (the module's weights, copied to the CPU in their dtype,
    with `metadata`) and `config.json` (`config_text`), each written atomically.

    Returns:
        The folder's path (created if needed).
    """
    from safetensors.torch import save_file

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in module.state_dict().items()
    }
    _write_atomically(folder / WEIGHTS_FILE, lambda temp: save_file(state, temp, metadata=metadata))
    _write_atomically(
        folder / CONFIG_FILE, lambda temp: temp.write_text(config_text + "\n", encoding="utf-8")
    )
    return folder


def save_swap_model(model: SwapModel, directory: str | Path) -> Path:
    """Write a swap model to `directory` (created if needed): `model.safetensors` and `config.json`.

    Args:
        model: the trained model; its weights are copied to the CPU in the dtype they have.
        directory: the model folder.

    Returns:
        The folder's path.
    """
    config_json = json.dumps(model.config.to_dict(), indent=2, sort_keys=True)
    metadata = {"config": config_json}
    if model.people is not None:
        metadata["people"] = json.dumps(model.people, sort_keys=True)
    return write_model_folder(directory, model, metadata, config_json)


def people_record(descriptors: np.ndarray, videos: list[str]) -> dict:
    """What a model remembers of one person it was trained on: the mean of their identity
    descriptors.

    Args:
        descriptors: `(R, 128)` dlib face descriptors of the person (face_extraction's
            `{person}_identity`).
        videos: the names of the videos they come from.

    Returns:
        `{"descriptor_mean": 128 floats or None when R == 0, "descriptors": R, "videos": sorted
        names}`.
    """
    descriptors = np.asarray(descriptors, dtype=np.float64).reshape(-1, 128)
    mean = descriptors.mean(axis=0).round(6).tolist() if len(descriptors) else None
    return {"descriptor_mean": mean, "descriptors": len(descriptors), "videos": sorted(set(videos))}


def read_model_people(directory: str | Path) -> dict[str, dict] | None:
    """Who a saved model was trained on (`{"a": people_record, "b": ...}`), or None when not
    recorded."""
    from safetensors import SafetensorError, safe_open

    weights_path = Path(directory) / WEIGHTS_FILE
    try:
        with safe_open(weights_path, framework="pt") as weights:
            text = (weights.metadata() or {}).get("people")
        people = json.loads(text) if text else None
    except (SafetensorError, OSError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{weights_path}: its record of the people it was trained on is unreadable ({error})"
        ) from error
    if people is not None and (not isinstance(people, dict) or set(people) != set(PERSONS)):
        raise ModelFileError(
            f"{weights_path}: its record of the people it was trained on is not for persons a and b"
        )
    return people


def read_model_config(directory: str | Path) -> ModelConfig:
    """The configuration of a saved model, from its weights file's metadata (without loading
    weights)."""
    # safetensors is imported here so that the networks and training import on a bare torch machine.
    from safetensors import safe_open

    weights_path = Path(directory) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelFileError(
            f"no model weights at {weights_path}; run `kedro run --pipelines training` to make the"
            " swap model"
        )
    try:
        with safe_open(weights_path, framework="pt") as weights:
            metadata = weights.metadata() or {}
        return ModelConfig.from_dict(json.loads(metadata["config"]))
    except unreadable_model_file_errors() as error:
        raise ModelFileError(
            f"{weights_path} is not a swap model file this version can read"
            f" ({type(error).__name__}: {error}); re-run the training pipeline to write it again"
        ) from error


def load_swap_model(
    directory: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[SwapModel, ModelConfig]:
    """Load a swap model saved by `save_swap_model`, in eval mode.

    Args:
        directory: the model folder.
        map_location: the device for the weights ("cpu", "cuda", ...).

    Returns:
        `(model, config)`; `model.swap(faces, to="b")` then swaps faces.

    Raises:
        ModelFileError: the folder is missing or unreadable, or the weights do not fit the
            architecture the configuration names.
    """
    from safetensors.torch import load_file

    config = read_model_config(directory)
    model = SwapModel(config)
    weights_path = Path(directory) / WEIGHTS_FILE
    state = load_file(weights_path, device=str(map_location))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shapes = [
        f"{name} {tuple(state[name].shape)} vs {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if missing or unexpected or wrong_shapes:
        details = "; ".join(
            part
            for part in (
                f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                (
                    f"{len(wrong_shapes)} of another shape (e.g. {wrong_shapes[0]})"
                    if wrong_shapes
                    else ""
                ),
            )
            if part
        )
        raise ModelFileError(
            f"the weights in {weights_path} do not fit architecture {config.architecture!r} (input"
            f" {config.input_size} px, width {config.width}) that its configuration names:"
            f" {details}. The file was made by another model or version; re-run the training"
            " pipeline."
        )
    model.load_state_dict(state)
    model.people = read_model_people(directory)
    model.to(map_location)
    model.eval()
    return model, config
