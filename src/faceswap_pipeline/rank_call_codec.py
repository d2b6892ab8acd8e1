"""A function call as bytes without pickle, for DDP rank processes: JSON with tagged values.

Values: None, bool, int, float, str, lists, tuples, dicts with str keys, `pathlib.Path`, pandas
DataFrames (as Parquet), numeric numpy arrays (`.npy` without pickle), arrays memory-mapped from a
whole `.npy` file (by its path: the rank maps the same file, no byte of it is sent), dataclasses
marked `transferable` (field by field), and `functools.partial` of a function marked
`transferable`. The called function must be marked too (`runs_on_every_rank` does it), so decoding
can only name functions and classes this project marked for it, never arbitrary code.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import importlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_TRANSFERABLE: dict[str, Callable[..., Any]] = {}


class CallCodecError(ValueError):
    """A call that cannot be encoded, or bytes that are not a call this project may run."""


def _name(function: Callable[..., Any]) -> str:
    return f"{function.__module__}:{function.__qualname__}"


def transferable(function: F) -> F:
    """Allow `function` to be named in an encoded call (as the call or inside a partial), or a
    dataclass to be sent field by field.

    A dataclass may name in `transferred_by_file` (a class attribute) the array fields that must be
    memory-mapped from a `.npy` file: an array of it held in memory is refused rather than copied to
    every rank.
    """
    _TRANSFERABLE[_name(function)] = function
    return function


def _resolve(name: str) -> Callable[..., Any]:
    module = name.split(":", 1)[0]
    if not module.startswith("faceswap_pipeline."):
        raise CallCodecError(f"{name!r} is not a function of this project")
    importlib.import_module(module)  # its decorators register what it marks
    if name not in _TRANSFERABLE:
        raise CallCodecError(f"{name!r} is not marked transferable")
    return _TRANSFERABLE[name]


def _blob(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _npy_file(value: Any) -> dict[str, Any]:
    """`{"npy_file": path, "shape", "dtype"}` for an array memory-mapped from the whole of a `.npy`
    file (as `np.load(path, mmap_mode=...)` gives it), else CallCodecError."""
    import numpy as np

    filename = getattr(value, "filename", None)
    header = None
    if filename is not None and value.flags.c_contiguous:
        try:
            with open(filename, "rb") as file:
                read_header = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }.get(np.lib.format.read_magic(file))
                if read_header is not None:
                    shape, fortran, dtype = read_header(file)
                    header = (tuple(shape), fortran, np.dtype(dtype), file.tell())
        except (OSError, ValueError):
            header = None
    if header != (value.shape, False, value.dtype, value.offset):
        raise CallCodecError(
            f"a memory-mapped {value.dtype} {value.shape} array of {filename} is sent by its file, "
            "so it must be the whole array of a C-ordered .npy file (np.load(path, mmap_mode='r'))"
        )
    return {"npy_file": str(filename), "shape": list(value.shape), "dtype": value.dtype.str}


def _open_npy_file(path: str, shape: list[int], dtype: str) -> Any:
    import numpy as np

    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CallCodecError(
            f"the memory-mapped array {path} cannot be opened here: {error}"
        ) from error
    if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
        raise CallCodecError(
            f"{path} holds a {array.dtype} {array.shape} array, not the {dtype} {tuple(shape)} one "
            "sent: it changed while the ranks started"
        )
    return array


def _encode_dataclass(value: Any) -> dict[str, Any]:
    import numpy as np

    name = _name(type(value))
    if _TRANSFERABLE.get(name) is not type(value):
        raise CallCodecError(f"{name} is not marked transferable")
    fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    for field in getattr(value, "transferred_by_file", ()):
        if not isinstance(fields[field], np.memmap):
            raise CallCodecError(
                f"{type(value).__name__}.{field} is held in memory, not memory-mapped from a .npy "
                "file, and is not copied to every DDP process: save it through its catalog dataset "
                "first (it is then sent by its path)"
            )
    return {"dataclass": name, "fields": _encode(fields)}


def _encode(value: Any) -> Any:  # noqa: PLR0911  # one return per type the codec encodes
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return {"list" if isinstance(value, list) else "tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CallCodecError("dictionaries need str keys")
        return {"dict": [[key, _encode(v)] for key, v in value.items()]}
    if isinstance(value, Path):
        return {"path": str(value)}
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return {"parquet": _blob(buffer.getvalue())}
    if isinstance(value, np.memmap):
        return _npy_file(value)
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"npy": _blob(buffer.getvalue())}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, functools.partial):
        name = _name(value.func)
        if _TRANSFERABLE.get(name) is not value.func:
            raise CallCodecError(f"{name} is not marked transferable")
        return {"partial": name, "args": _encode(value.args), "kwargs": _encode(value.keywords)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    raise CallCodecError(f"a {type(value).__name__} cannot be sent")


def _decode(value: Any) -> Any:  # noqa: PLR0911  # one return per type the codec decodes
    if not isinstance(value, dict):
        return value
    import numpy as np
    import pandas as pd

    (tag, content), *more = value.items()
    if tag == "list":
        return [_decode(v) for v in content]
    if tag == "tuple":
        return tuple(_decode(v) for v in content)
    if tag == "dict":
        return {key: _decode(v) for key, v in content}
    if tag == "path":
        return Path(content)
    if tag == "parquet":
        return pd.read_parquet(io.BytesIO(base64.b64decode(content)))
    if tag == "npy":
        return np.load(io.BytesIO(base64.b64decode(content)), allow_pickle=False)
    if tag == "npy_file":
        keywords = dict(more)
        return _open_npy_file(content, keywords["shape"], keywords["dtype"])
    if tag == "dataclass":
        return _resolve(content)(**_decode(dict(more)["fields"]))
    if tag == "partial":
        keywords = dict(more)
        return functools.partial(
            _resolve(content), *_decode(keywords["args"]), **_decode(keywords["kwargs"])
        )
    raise CallCodecError(f"unknown value tag {tag!r}")


def encode_call(function: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> bytes:
    """`function(*args, **kwargs)` as bytes; `function` must be marked `transferable`.

    Raises:
        CallCodecError: the function is not marked, or an argument is of a type not listed above.
    """
    name = _name(function)
    if _TRANSFERABLE.get(name) is not function:
        raise CallCodecError(f"{name} is not marked transferable")
    message = {"function": name, "args": _encode(tuple(args)), "kwargs": _encode(kwargs)}
    return json.dumps(message).encode()


def decode_call(data: bytes) -> functools.partial:
    """The call `encode_call` encoded, ready to run.

    Raises:
        CallCodecError: malformed, or naming a function not marked `transferable`.
    """
    try:
        message = json.loads(data)
        return functools.partial(
            _resolve(message["function"]), *_decode(message["args"]), **_decode(message["kwargs"])
        )
    except CallCodecError:
        raise
    except (ValueError, KeyError, TypeError) as error:
        raise CallCodecError(f"not an encoded call ({type(error).__name__}: {error})") from error
