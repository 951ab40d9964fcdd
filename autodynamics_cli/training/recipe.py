"""Training recipes as TOML files: read one, lay the command line over it, write a run's.

A recipe's keys are ``TrainConfig`` field names. The model switches a run passes as
``overrides`` go in a ``[model]`` table (any ``ModelConfig`` field); the usual ones
(``MODEL_KEYS``) may also stand at the top level. Paths are kept as typed: relative to
the folder ``autodyn train`` runs in, not to the recipe. TOML has no null, so an unset
optional setting is left out, and ``eval_seconds = 0`` means whole pieces (as
``--eval-seconds 0``). ``tomllib`` cannot write, so ``recipe_text`` does: flat scalars,
lists and the one ``[model]`` table are all a recipe holds.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
import types
import typing
from dataclasses import fields
from enum import Enum
from pathlib import Path

from autodynamics_cli import __version__
from autodynamics_cli.errors import UsageError
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.training.config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECIPE_FILE = "recipe.toml"  # a run folder's resolved recipe (loop.Trainer writes it)
DEFAULT_OUT = "runs/default"
# model switches a recipe may set at its top level as well as under [model]
MODEL_KEYS = ("note_tokens", "onset_lead", "staff", "markings", "n_enc_layers", "n_dec_layers")

_TRAIN_TYPES = typing.get_type_hints(TrainConfig)
_MODEL_TYPES = typing.get_type_hints(ModelConfig)
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _kinds(hint: object) -> tuple:
    """The types a field takes, less None (TOML has no null)."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    args = typing.get_args(hint) if union else (hint,)
    return tuple(a for a in args if a is not type(None))


def _checked(where: str, key: str, value: object, hint: object) -> object:
    """``value`` if it fits the field's type (an integer where a number goes becomes a float)."""
    kinds = _kinds(hint)
    if isinstance(value, Enum):  # the command line's choices
        value = value.value
    if isinstance(value, os.PathLike) and str in kinds:
        value = os.fspath(value)
    if isinstance(value, list | tuple) and list[str] in kinds:  # several data folders
        items = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        if items and all(isinstance(v, str) for v in items):
            return items if len(items) > 1 else items[0]
        raise UsageError(f"{where}: {key} must be a string or a list of strings, not {value!r}")
    if isinstance(value, bool):
        ok = bool in kinds
    elif isinstance(value, int):
        ok = int in kinds or float in kinds
        value = value if int in kinds else float(value)
    else:
        ok = type(value) in (float, str) and type(value) in kinds
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, getattr(k, "__name__", str(k))) for k in kinds)
        raise UsageError(f"{where}: {key} must be {wanted}, not {value!r}")
    return value


def _unknown(where: str, keys: list[str], known: list[str]) -> UsageError:
    def hint(key: str) -> str:
        if key == "overrides":
            return "'overrides' (model switches go in a [model] table)"
        close = difflib.get_close_matches(key, known, 1)
        return f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key)

    hints = [hint(k) for k in keys]
    return UsageError(
        f"{where}: unknown key{'s' if len(keys) > 1 else ''} {', '.join(hints)} "
        "(a recipe holds autodyn train's settings: docs/cli.md#recipes)"
    )


def normalize(raw: dict, where: str) -> dict:
    """``TrainConfig`` keyword arguments from a recipe's (or the command line's) keys, checked.

    Model switches, at the top level or under ``model``, are gathered in ``overrides``.
    """
    values: dict = {}
    model: dict = {}
    unknown: list[str] = []
    table = raw.get("model", {})
    if not isinstance(table, dict):
        raise UsageError(f"{where}: model must be a table ([model]), not {table!r}")
    for key, value in table.items():
        if key not in _MODEL_TYPES:
            unknown.append(f"model.{key}")
        else:
            model[key] = _checked(where, f"model.{key}", value, _MODEL_TYPES[key])
    for key, value in raw.items():
        if key in MODEL_KEYS:
            if key in table:
                raise UsageError(f"{where}: {key} is set both at the top and under [model]")
            model[key] = _checked(where, key, value, _MODEL_TYPES[key])
        elif key in _TRAIN_TYPES and key != "overrides":
            values[key] = _checked(where, key, value, _TRAIN_TYPES[key])
        elif key != "model":
            unknown.append(key)
    if unknown:
        raise _unknown(where, unknown, [*(k for k in _TRAIN_TYPES if k != "overrides"), *MODEL_KEYS, "model"])
    if values.get("eval_seconds") == 0:
        values["eval_seconds"] = None  # whole pieces
    if model:
        values["overrides"] = model
    return values


def read_recipe(path: str | Path) -> dict:
    """A recipe file's settings as ``TrainConfig`` keyword arguments (``overrides`` for [model])."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the recipe: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not a TOML recipe: {e}") from None
    return normalize(raw, str(path))


def resolve(path: str | Path | None, given: dict) -> TrainConfig:
    """The run's settings: ``TrainConfig``'s defaults, then the recipe at ``path``, then ``given``.

    ``given`` holds only what the user typed (flags left at their defaults must not
    undo the recipe); its model switches override the recipe's one by one.
    """
    base = read_recipe(path) if path is not None else {}
    flags = normalize(given, "the command line")
    overrides = {**base.get("overrides", {}), **flags.get("overrides", {})}
    values = {"out": DEFAULT_OUT, **base, **flags, "overrides": overrides}
    if "data" not in values:
        raise UsageError("no training data: give --data DIR, or data in the recipe")
    return TrainConfig(**values)


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    return (
        '"'
        + "".join(escapes.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in text)
        + '"'
    )


def toml_value(value: object) -> str:
    """``value`` (a scalar or a list of them) as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise UsageError(f"a recipe cannot hold {value!r}")


def recipe_text(cfg: TrainConfig) -> str:
    """``cfg`` as a recipe that ``read_recipe`` (and ``autodyn train --config``) reads back equal."""
    lines = [
        f"# autodyn training recipe, written by autodyn {__version__}. Repeat these settings with",
        "# `autodyn train --config THIS_FILE` (flags given with it win, e.g. --out for a new",
        "# run folder). Paths are as typed: relative to the folder autodyn train ran in.",
        "",
    ]
    unset = []
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        if f.name == "overrides":
            continue
        if f.name == "eval_seconds" and value is None:
            lines.append("eval_seconds = 0  # whole pieces")  # TOML has no null
            continue
        if value is None:
            unset.append(f.name)
            continue
        lines.append(f"{f.name} = {toml_value(_checked('recipe', f.name, value, _TRAIN_TYPES[f.name]))}")
    if unset:
        lines.append(f"# not set (left to their defaults): {', '.join(unset)}")
    if cfg.overrides:
        lines += ["", "[model]"] + [f"{k} = {toml_value(v)}" for k, v in sorted(cfg.overrides.items())]
    return "\n".join(lines) + "\n"


def write_recipe(cfg: TrainConfig, path: str | Path) -> None:
    """Write ``cfg`` as a recipe file, atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(recipe_text(cfg), encoding="utf-8")
    os.replace(tmp, path)
