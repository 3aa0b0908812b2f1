"""A faster `__init__` for the frozen value types the validation engine builds on every chart.

`@dataclass(frozen=True)` makes instances immutable by giving the class a `__setattr__` that
raises, so its generated `__init__` has to store every field with `object.__setattr__(self,
name, value)`: CPython's generic attribute path, about 2,000 machine instructions per field on
3.12, five times what a plain store costs. The engine builds a dozen such values per chart (a
`Claim`, a `DrgResult`, a `ComorbidityResult`, a few `Finding`s, a `Summary`, the result), which
made a seventh of a chart's validation time.

`fast_init` replaces that generated `__init__` by one with the same parameters and defaults that
stores each field through its own slot descriptor, half the cost. Nothing else changes: the class
is still the frozen, slotted dataclass it was (fields, equality, hash, repr, pickling and
immutability; `tests/test_engine_perf_caches.py` checks each decorated class against the
dataclass-generated `__init__`). The function is built from the fields with `exec`, exactly as
`dataclasses` builds the one it replaces; no outside text reaches it.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any

_NO_VALUE: Any = object()  # stands for "not passed" when a field has a default_factory


def fast_init[T](cls: type[T]) -> type[T]:
    """Give a `@dataclass(frozen=True, slots=True)` class the faster `__init__` (see the module).

    Only plain fields are supported (no `init=False`, keyword-only fields or `__post_init__`);
    anything else raises TypeError at import time rather than build a wrong `__init__`.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: fast_init is for @dataclass(frozen=True, slots=True) classes")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: fast_init does not run __post_init__")
    namespace: dict[str, Any] = {"_NO_VALUE": _NO_VALUE}
    signature: list[str] = []
    body: list[str] = []
    for field in fields(cls):
        name = field.name
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__qualname__}.{name}: fast_init supports plain positional fields only")
        namespace[f"_store_{name}"] = cls.__dict__[name].__set__  # the slot's member descriptor
        if field.default is not MISSING:
            namespace[f"_default_{name}"] = field.default
            signature.append(f"{name}=_default_{name}")
            body.append(f"    _store_{name}(self, {name})")
        elif field.default_factory is not MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            signature.append(f"{name}=_NO_VALUE")
            body.append(f"    _store_{name}(self, _factory_{name}() if {name} is _NO_VALUE else {name})")
        else:
            signature.append(name)
            body.append(f"    _store_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(signature)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - source built above from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields(cls)}, "return": None}
    type.__setattr__(cls, "__init__", init)
    return cls
