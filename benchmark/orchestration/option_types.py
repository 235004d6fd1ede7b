"""What a config value may be, and the words that say it: the types, ranges and choices the config
validation (validation.py) checks values against, and how a value and an expected type are written in its
messages (as the user would type them on the command line)."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import OmegaConf


@dataclass(frozen=True)
class Option:
    """What one option takes: a type (int, float, bool, str, list), optionally null, a range, choices."""

    kind: type
    nullable: bool = False
    low: Optional[float] = None  # inclusive
    high: Optional[float] = None  # inclusive
    choices: tuple = ()

    def describe(self) -> str:
        if self.choices:
            what = "one of " + ", ".join(map(str, self.choices))
        else:
            what = TYPE_WORDS[self.kind]
            if self.low is not None and self.high is not None:
                what += f" in [{self.low}, {self.high}]"
            elif self.low is not None:
                what += f" >= {self.low}"
        return f"null or {what}" if self.nullable else what

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.choices:
            return value in self.choices
        if not is_instance(value, self.kind):
            return False
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value <= self.high


TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
              dict: "a mapping"}


def is_instance(value: Any, kind: type) -> bool:
    """Hydra's types as a user means them: an int is a number, a bool is not an int."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, kind)


def show(value: Any) -> str:
    """A value as the user would type it on the command line."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool) or value is None:
        return str(value).lower().replace("none", "null")
    if isinstance(value, (dict, list)):
        return OmegaConf.to_yaml(value, sort_keys=False).strip().replace("\n", "; ")
    return str(value)


def type_problems(prefix: str, values: dict, schema: type, owner: str) -> list[tuple[str, str]]:
    """Unknown keys and values of the wrong type, against a config dataclass's fields and annotations."""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    problems = [(f"{prefix}.{k}", f"{owner} has no option {k!r}; valid: {', '.join(fields)}")
                for k in values if k not in fields]
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved is not checked
        hints = {}
    for key, value in values.items():
        if key in fields and key in hints and not matches(value, hints[key]):
            problems.append((f"{prefix}.{key}", f"{show(value)} is not valid; must be {describe(hints[key])}"))
    return problems


def matches(value: Any, hint: Any) -> bool:
    """Whether a config value fits a type annotation (the subset config dataclasses use)."""
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple):
        return is_instance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    if hint in TYPE_WORDS:
        return is_instance(value, hint)
    return True  # a type the configs do not spell in yaml: left to the code that uses it


def describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        words = [describe(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        return ("null or " if nullable else "") + " or ".join(words)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return TYPE_WORDS.get(hint, getattr(hint, "__name__", str(hint)))
