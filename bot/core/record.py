"""`@record`: a frozen dataclass whose methods are shared by every record class.

`@record` is `@dataclass(frozen=True)` as far as anyone using the class can
tell: the same fields and `__init__`, `dataclasses.fields`, `replace` and
`asdict`, equality and hashing over the compared fields, the same repr, and
FrozenInstanceError on assignment. The difference is memory. For every class,
dataclasses writes and compiles six methods from source (`__init__`,
`__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`): about 12 KiB
a class of six fields on Python 3.11, against 2.5 KiB for a plain class. A
record keeps the generated `__init__` (its signature is the class's) and
shares one implementation of the other five, which reads the field names the
class was given: about 5 KiB a class. sigbot has some ninety value classes
(STYLE: frozen value objects at boundaries), so this is about 0.6 MiB of the
running bot (resident memory is a figure of issue 14; bench/footprint.py).

A method the class defines itself (a `__repr__` that hides a secret) is kept,
as dataclasses keeps it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from reprlib import recursive_repr
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_COMPARED = "__record_compared__"  # names of the fields equality compares, in order
_HASHED = "__record_hashed__"  # names of the fields the hash covers (dataclasses' rule: hash=, else compare=)
_SHOWN = "__record_shown__"  # names of the fields the repr shows


def _values(obj: object, names: str) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in getattr(obj, names))


def _eq(self: object, other: object) -> Any:  # bool, or NotImplemented for another class
    if other.__class__ is self.__class__:
        return _values(self, _COMPARED) == _values(other, _COMPARED)
    return NotImplemented


def _hash(self: object) -> int:
    return hash(_values(self, _HASHED))


@recursive_repr()
def _repr(self: object) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, _SHOWN))
    return f"{self.__class__.__qualname__}({shown})"


def _setattr(self: object, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


_SHARED: dict[str, Callable[..., Any]] = {"__eq__": _eq, "__hash__": _hash, "__repr__": _repr}


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """The class as a frozen dataclass with shared methods (see the module's docstring)."""
    own = set(vars(cls))  # what the class defines itself, before dataclasses adds anything
    cls = dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # it is a dataclass now
    setattr(cls, _COMPARED, tuple(f.name for f in fields if f.compare))
    setattr(cls, _HASHED, tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
    setattr(cls, _SHOWN, tuple(f.name for f in fields if f.repr))
    for name, method in _SHARED.items():
        if name not in own:
            setattr(cls, name, method)
    # dataclasses always writes these two for a frozen class (and refuses a class that defines them).
    cls.__setattr__ = _setattr  # type: ignore[method-assign]
    cls.__delattr__ = _delattr  # type: ignore[method-assign]
    return cls
