"""Map plain dicts (from YAML or ROS parameters) onto nested config dataclasses.

Every config class is a dataclass with a docstring per field; this module only converts and
checks names and types, the classes check their own ranges in `__post_init__`.
"""
from __future__ import annotations

import dataclasses
import enum
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gnesf_ros.errors import ConfigError

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)


def parse_mode(modes: type[E], value: Any, name: str) -> E:
    """A config's mode string `value` as a member of the enum `modes`, parsed once in `__post_init__` (a `StrEnum`
    member equals its string, so YAML, ROS parameters and `dataclasses.asdict` keep the plain strings); ValueError
    naming the field `name` and the choices otherwise."""
    try:
        return modes(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {tuple(m.value for m in modes)}, got {value!r}") from None


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str = "config") -> T:
    """Build dataclass `cls` from `values`; nested dataclass fields take nested dicts.

    Unknown keys are an error (a typo must not silently fall back to a default).
    """
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    field_names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - field_names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(field_names)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{name}: expected a mapping, got {type(value).__name__}")
            kwargs[name] = from_dict(hint, value, f"{where}.{name}")
        else:
            kwargs[name] = _coerce(value, hint, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def to_dict(config: Any) -> dict[str, Any]:
    """Inverse of `from_dict` (tuples become lists and enum members their values, so the result dumps to YAML)."""
    def plain(v: Any) -> Any:
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(config))


def load_yaml(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Read `path` (optionally one top-level `section` of it) into dataclass `cls`."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if section is not None:
        if section not in doc:
            raise ConfigError(f"{path}: missing section '{section}'")
        doc = doc[section]
    return from_dict(cls, doc, where=str(path) + (f":{section}" if section else ""))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where) for v in value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [_coerce(v, inner, where) for v in value]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value
