"""YAML configs validated on load, with single-key overrides from the command line.

One mechanism for every config in ``configs/``: a YAML file is read, ``key.sub=value`` overrides are
applied to the raw mapping, and the result is validated against a pydantic schema whose models
forbid unknown keys. Any problem becomes a :class:`ConfigError` whose message is one line naming the
file, the key and what was expected, e.g.::

    configs/model/paper.yaml: temporal_encoder.heads: expected an integer, got 'eight'

This module must stay free of torch so that the live app (which may run without PyTorch) can use it.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["ConfigError", "StrictModel", "load_config", "parse_config", "apply_overrides", "to_yaml"]

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file, key or override that cannot be used; the message is one line."""


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


def _show_key(key: str) -> str:
    """A dotted key as it goes into a one-line message (quoted when it holds newlines or other controls)."""
    return key if key.isprintable() else repr(key)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing YAML file (see configs/)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unknown problem"])[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a usable config: its YAML is nested too deeply") from None
    except ValueError as exc:  # a scalar PyYAML cannot convert (an integer of thousands of digits, a date like 2024-13-45)
        problem = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{path}: not a usable config: a value cannot be read ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], *, source: str = "override") -> dict[str, Any]:
    """Apply ``dotted.key=value`` strings to a nested mapping (values parsed as YAML scalars/lists).

    Intermediate mappings are created when missing so that the schema, not this function, decides
    whether a key exists (and names the unknown one).
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{source}: {item!r}: expected KEY=VALUE, e.g. temporal_encoder.layers=4")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except (yaml.YAMLError, RecursionError, ValueError):  # not a YAML scalar/list: the text itself
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"{source}: {_show_key(key)}: {part!r} holds a value, not a section of keys")
            node = child
        node[parts[-1]] = value
    return data


def _allowed_keys(schema: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The field names accepted at the parent of ``loc`` (for 'did you mean' hints)."""
    model: Any = schema
    for part in loc[:-1]:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return []
        model = fields[part].annotation
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else []


def _describe(error: Mapping[str, Any], schema: type[BaseModel]) -> str:
    loc = [p for p in error.get("loc", ()) if not isinstance(p, str) or not p.startswith("function-")]
    key = _show_key(".".join(str(p) for p in loc)) or "<top level>"
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(schema, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if allowed else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{key}: unknown key{hint}; allowed keys here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{key}: required value is missing"
    msg = str(error.get("msg", "invalid value"))
    if kind == "value_error":  # a cross-field rule of the schema: its message names the keys itself
        return msg.removeprefix("Value error, ")
    got = error.get("input")
    msg = msg[0].lower() + msg[1:] if msg else msg
    msg = msg.replace("input should be", "expected")
    return f"{key}: {msg}, got {got!r}"


def parse_config(schema: type[M], data: Mapping[str, Any], *, source: str) -> M:
    """Validate a mapping against ``schema``; the first problem becomes a one-line ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return schema.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (+{len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_describe(errors[0], schema)}{more}") from None


def load_config(path: str | Path, schema: type[M], overrides: Sequence[str] = ()) -> M:
    """Read ``path``, apply overrides, validate; raise :class:`ConfigError` with one line on failure."""
    path = Path(path)
    data = apply_overrides(_read_yaml(path), overrides, source=str(path))
    return parse_config(schema, data, source=str(path))


def to_yaml(config: BaseModel) -> str:
    """The fully resolved config as YAML (what checkpoints and bundles record)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
