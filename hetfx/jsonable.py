"""Turn hetfx's design objects into JSON and numpy arrays, and back, without pickle.

Plain values stay plain; the rest is tagged: ``{"__tuple__": [...]}``,
``{"__array__": "a3"}`` (a numeric array stored beside the JSON, in an ``.npz``
file), ``{"__ndarray__": [...], "dtype": ...}`` (small or object arrays),
``{"__frame__": ...}`` (data frames, categorical columns kept), and
``{"__dataclass__": "module:Class", ...}`` / ``{"__enum__": ...}`` for the
dataclasses and enums of hetfx and formulaic only. A formulaic ``ModelSpec`` is
kept as its formula and its encoder and transform state, which is what it needs
to build the same columns from new data.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from typing import Any

import numpy as np
import pandas as pd

from hetfx.errors import DataError

# classes that may be rebuilt from a saved fit: nothing else is ever imported
TRUSTED_MODULES = ("hetfx.", "formulaic.")
# numeric arrays with more values than this go to the .npz file
INLINE_SIZE = 32


class Encoder:
    """Encode values; numeric arrays above ``INLINE_SIZE`` values go to ``arrays``."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, value: Any, where: str = "value") -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | float):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, enum.Enum):
            return {"__enum__": _qualified(type(value), where), "value": value.value}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, pd.DataFrame):
            return self._frame(value, where)
        if isinstance(value, pd.Categorical):
            return self._categorical(value, where)
        if isinstance(value, tuple):
            return {"__tuple__": [self(v, where) for v in value]}
        if isinstance(value, list):
            return [self(v, where) for v in value]
        if isinstance(value, dict):
            return self._dict(value, where)
        if type(value).__name__ == "ModelSpec" and dataclasses.is_dataclass(value):
            return self._model_spec(value, where)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {
                f.name: self(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)
                if f.init
            }
            return {"__dataclass__": _qualified(type(value), where), "fields": fields}
        raise DataError(
            f"Cannot save {where}: a value of type {type(value).__name__} has no "
            "JSON form."
        )

    def _array(self, value: np.ndarray, where: str) -> Any:
        if value.dtype.kind in "biuf" and value.size > INLINE_SIZE:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.ascontiguousarray(value)
            return {"__array__": key}
        if value.dtype.kind in "biuf":
            return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
        items = [self(v, where) for v in value.ravel().tolist()]
        return {"__ndarray__": items, "dtype": "object", "shape": list(value.shape)}

    def _categorical(self, value: pd.Categorical, where: str) -> dict[str, Any]:
        return {
            "__categorical__": self._array(np.asarray(value.codes), where),
            "categories": self(value.categories.to_numpy(), where),
            "ordered": bool(value.ordered),
        }

    def _frame(self, frame: pd.DataFrame, where: str) -> dict[str, Any]:
        columns = []
        for name in frame.columns:
            col = frame[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                columns.append(self._categorical(col.array, where))
            else:
                columns.append(self._array(col.to_numpy(), f"{where}[{name!r}]"))
        return {"__frame__": [self(c, where) for c in frame.columns], "data": columns}

    def _dict(self, value: dict, where: str) -> Any:
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: self(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {
            "__dict__": [[self(k, where), self(v, where)] for k, v in value.items()]
        }

    def _model_spec(self, spec: Any, where: str) -> dict[str, Any]:
        return {
            "__model_spec__": str(spec.formula),
            "ensure_full_rank": bool(spec.ensure_full_rank),
            "na_action": self(spec.na_action, where),
            "encoder_state": self(dict(spec.encoder_state), where),
            "transform_state": self(dict(spec.transform_state), where),
        }


def decode(value: Any, arrays: Any) -> Any:
    """The value :class:`Encoder` encoded; ``arrays`` maps keys to numpy arrays."""
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return np.asarray(arrays[value["__array__"]])
    if "__ndarray__" in value:
        if value["dtype"] == "object":
            items = [decode(v, arrays) for v in value["__ndarray__"]]
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(value["shape"])
        return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
    if "__tuple__" in value:
        return tuple(decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {decode(k, arrays): decode(v, arrays) for k, v in value["__dict__"]}
    if "__enum__" in value:
        return _resolve(value["__enum__"])(value["value"])
    if "__categorical__" in value:
        codes = decode(value["__categorical__"], arrays)
        categories = decode(value["categories"], arrays)
        return pd.Categorical.from_codes(codes, categories, ordered=value["ordered"])
    if "__frame__" in value:
        names = [decode(c, arrays) for c in value["__frame__"]]
        data = [decode(c, arrays) for c in value["data"]]
        return pd.DataFrame(dict(zip(names, data, strict=True)), columns=names)
    if "__dataclass__" in value:
        cls = _resolve(value["__dataclass__"])
        return cls(**{k: decode(v, arrays) for k, v in value["fields"].items()})
    if "__model_spec__" in value:
        from formulaic import ModelSpec

        return ModelSpec(
            formula=value["__model_spec__"],
            ensure_full_rank=value["ensure_full_rank"],
            na_action=decode(value["na_action"], arrays),
            encoder_state=decode(value["encoder_state"], arrays),
            transform_state=decode(value["transform_state"], arrays),
        )
    return {k: decode(v, arrays) for k, v in value.items()}


def _qualified(cls: type, where: str) -> str:
    name = f"{cls.__module__}:{cls.__qualname__}"
    if not cls.__module__.startswith(TRUSTED_MODULES):
        raise DataError(
            f"Cannot save {where}: {name} is not a hetfx or formulaic type."
        )
    return name


def _resolve(name: str) -> Any:
    module, _, qualname = name.partition(":")
    if not module.startswith(TRUSTED_MODULES):
        raise DataError(f"A saved fit names {name!r}, which hetfx does not load.")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
