"""A function call as bytes without pickle, for DDP rank processes: JSON with tagged values.

Values: None, bool, int, float, str, lists, tuples, dicts with str keys, `pathlib.Path`, pandas
DataFrames (as Parquet), numeric numpy arrays (`.npy` without pickle), and `functools.partial` of
a function marked `transferable`. The called function must be marked too (`runs_on_every_rank` does
it), so decoding can only name functions this project marked for it, never arbitrary code.
"""

from __future__ import annotations

import base64
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
    """Allow `function` to be named in an encoded call (as the call or inside a partial)."""
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


def _encode(value: Any) -> Any:
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
    raise CallCodecError(f"a {type(value).__name__} cannot be sent")


def _decode(value: Any) -> Any:
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
