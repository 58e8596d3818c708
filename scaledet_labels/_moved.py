"""Deprecated aliases for the module paths of the flat 0.x layout (removed next release).

The modules moved into layer subpackages (``vocab``, ``embed``, ``bundle``, ``cli``).
``import scaledet_labels.cache`` (or ``from scaledet_labels.embeddings import ...``) still
works: it gives a proxy module that forwards every attribute to the new module and warns
once with a :class:`DeprecationWarning` that names the new path. The public API,
``import scaledet_labels as sl; sl.<name>``, did not move.

Examples:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     from scaledet_labels.names import clean_name
    >>> "scaledet_labels.vocab.names" in str(caught[0].message)
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["MOVED", "install"]

#: Old module path -> new module path.
MOVED: dict[str, str] = {
    "scaledet_labels.names": "scaledet_labels.vocab.names",
    "scaledet_labels.vocabulary": "scaledet_labels.vocab.vocabulary",
    "scaledet_labels.sources": "scaledet_labels.vocab.sources",
    "scaledet_labels.builtin": "scaledet_labels.vocab.builtin",
    "scaledet_labels.registry": "scaledet_labels.vocab.registry",
    "scaledet_labels.merge": "scaledet_labels.vocab.merge",
    "scaledet_labels.label_space": "scaledet_labels.vocab.label_space",
    "scaledet_labels.indexing": "scaledet_labels.vocab.indexing",
    "scaledet_labels.templates": "scaledet_labels.embed.templates",
    "scaledet_labels.prompts": "scaledet_labels.embed.prompts",
    "scaledet_labels.cache": "scaledet_labels.embed.cache",
    "scaledet_labels.embeddings": "scaledet_labels.embed.embeddings",
    "scaledet_labels.encoders": "scaledet_labels.embed.encoders",
    "scaledet_labels.similarity": "scaledet_labels.bundle.similarity",
    "scaledet_labels.build": "scaledet_labels.bundle.build",
    "scaledet_labels.export": "scaledet_labels.bundle.export",
    "scaledet_labels.report": "scaledet_labels.bundle.report",
}


class _Proxy(types.ModuleType):
    """A module that forwards attribute reads to the module it stands for."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name, f"Deprecated alias of {target}.")
        self.__target = target

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__target), attr)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__target))


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            for old, moved in MOVED.items():  # a submodule of a moved package
                if fullname.startswith(old + "."):
                    new = moved + fullname[len(old) :]
                    break
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=new)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = str(spec.origin)
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there (or use the public API, "
            "`import scaledet_labels as sl`). The old path goes away in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        importlib.import_module(new)  # fail now, with the new name, if it cannot import
        return _Proxy(spec.name, new)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


_FINDER = _Finder()


def install() -> None:
    """Put the alias finder first on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)  # before the path finder: no second copy
