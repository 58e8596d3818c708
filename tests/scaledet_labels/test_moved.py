"""Deprecated names of the flat layout keep working for one release, with a warning."""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import scaledet_labels as sl
from scaledet_labels._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_old_module_paths_forward_to_the_new_modules(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        proxy = importlib.import_module(old)
    target = importlib.import_module(new)
    public = getattr(target, "__all__", None) or [n for n in vars(target) if n[0] != "_"]
    for name in public:
        assert getattr(proxy, name) is getattr(target, name), name


def test_submodule_of_a_moved_package_is_the_same_module() -> None:
    """No second copy: classes keep their identity (isinstance keeps working)."""
    sys.modules.pop("scaledet_labels.encoders.base", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from scaledet_labels.encoders.base import TorchTextEncoder as old
    from scaledet_labels.embed.encoders.base import TorchTextEncoder as new

    assert old is new


def test_unknown_old_name_still_fails() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("scaledet_labels.no_such_module")


def test_load_is_a_deprecated_alias_of_load_bundle(tmp_path: Path) -> None:
    space = sl.LabelSpace.union(["cat, dog"], names=["a"])
    bundle = sl.build_label_space(space, precomputed={"a": np.eye(2, 4, dtype=np.float32)})
    path = bundle.save(tmp_path / "b")
    with pytest.warns(DeprecationWarning, match="load_bundle"):
        old = sl.load(path)
    assert np.array_equal(old.embeddings, sl.load_bundle(path).embeddings)


def test_near_duplicates_top_is_a_deprecated_spelling_of_k() -> None:
    space = sl.LabelSpace.union(["cat, dog", "kitty, puppy"], names=["a", "b"])
    emb = np.eye(4, 4, dtype=np.float32)
    emb[2] = [0.9, 0.1, 0, 0]
    bundle = sl.build_label_space(space, precomputed={"a": emb[:2], "b": emb[2:]})
    with pytest.warns(DeprecationWarning, match="k="):
        old = bundle.near_duplicates(top=1)
    assert old == bundle.near_duplicates(k=1)
    assert old[0][0].name == "cat" and old[0][1].name == "kitty"
