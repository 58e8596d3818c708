"""check_bundle_path: everything a save would refuse, refused before any work is done."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

import pytest

from scaledet_labels.bundle import io
from scaledet_labels.bundle.io import check_bundle_path
from scaledet_labels.errors import BundleError


def test_new_paths_and_existing_bundles_are_fine(tmp_path: Path) -> None:
    assert check_bundle_path(tmp_path / "a" / "b" / "c") == tmp_path / "a" / "b" / "c"
    assert not (tmp_path / "a").exists()  # nothing is created
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    assert check_bundle_path(str(bundle)) == bundle
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_bundle_path(empty) == empty


def test_a_file_or_a_foreign_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="exists and is not a directory; refusing"):
        check_bundle_path(tmp_path / "file")
    with pytest.raises(BundleError, match=r"file is a file, not a directory"):
        check_bundle_path(tmp_path / "file" / "sub" / "bundle")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(BundleError, match="exists and is not a bundle; refusing"):
        check_bundle_path(tmp_path / "mine")


def test_a_name_longer_than_the_file_system_allows_is_refused(tmp_path: Path) -> None:
    long = "+".join(f"dataset_{i:02d}" for i in range(40))
    assert len(long) > 255
    with pytest.raises(BundleError, match=r"bytes, longer than the file system allows \(255\)"):
        check_bundle_path(tmp_path / "labelspaces" / long)
    with pytest.raises(BundleError, match="longer than the file system allows"):
        check_bundle_path(tmp_path / ("\u00e9" * 130))  # 260 bytes in UTF-8


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_parent_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(BundleError, match="cannot write in"):
            check_bundle_path(ro / "new" / "bundle")
    finally:
        ro.chmod(0o700)


def test_doctest() -> None:
    assert doctest.testmod(io).failed == 0
