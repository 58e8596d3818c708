"""Exporting a bundle to the formats other detection tools load.

==============  ==============================================================================
format          what is written
==============  ==============================================================================
``detic``       float32 ``(C, D)`` ``.npy`` of one dataset (``dataset=``) or the unified space,
                rows in label order, as Detic's ``ZeroShotClassifier`` loads via
                ``MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_PATH``
``openclip``    a ``(D, C)`` float32 matrix, what ``open_clip.build_zero_shot_classifier``
                returns: ``.safetensors`` (key ``zero_shot_classifier``; no pickle) or ``.npy``
``yoloworld``   ``(N, D)`` float32 ``.npy`` plus ``<stem>.names.json`` with the class names in
                the same order (for ``set_classes``-style offline vocabularies)
``csv``         the labels table: index, dataset, local index, id, raw/clean names, synonyms
``similarity``  the similarity matrix: ``.npy`` dense, or ``.npz`` CSR (top-k bundles)
==============  ==============================================================================

Examples:
    >>> bundle.export("detic", "coco_clip.npy", dataset="coco")  # doctest: +SKIP
    [PosixPath('coco_clip.npy')]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from scaledet_labels.bundle.files import atomic_write, safe_file_stem
from scaledet_labels.bundle.io import labels_table, save_csr
from scaledet_labels.errors import BundleError

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaledet_labels.bundle.container import LabelSpaceBundle

__all__ = ["EXPORT_FORMATS", "ExportFormat", "export_bundle"]

ExportFormat = Literal["detic", "openclip", "yoloworld", "csv", "similarity"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)


def export_bundle(
    bundle: LabelSpaceBundle,
    format: str,
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``bundle`` in another tool's format; returns the files written.

    Args:
        bundle: The bundle.
        format: One of ``detic``, ``openclip``, ``yoloworld``, ``csv``, ``similarity``.
        path: Output file. A directory (existing, or a path ending in ``/``) gets a
            default file name.
        dataset: Restrict to one dataset's labels in its own order (all formats but
            ``similarity``, which is always the unified matrix).
        overwrite: Replace existing files (default False, as for
            :meth:`~scaledet_labels.LabelSpaceBundle.save`).

    Raises:
        BundleError: Unknown format, a file extension the format cannot write, or an
            existing file with ``overwrite=False``.
    """
    if format not in EXPORT_FORMATS:
        raise BundleError(f"export format {format!r} is not one of {list(EXPORT_FORMATS)}")
    space = bundle.label_space
    if dataset is not None:
        space.dataset_index(dataset)  # raises for an unknown dataset
    stem = safe_file_stem(dataset or "+".join(space.datasets))
    defaults = {
        "detic": f"{stem}_clip.npy",
        "openclip": f"{stem}_zeroshot.safetensors",
        "yoloworld": f"{stem}_yoloworld.npy",
        "csv": f"{stem}_labels.csv",
        "similarity": "similarity.npz" if bundle.is_sparse else "similarity.npy",
    }
    target = Path(path)
    if target.is_dir() or str(path).endswith(os.sep):
        target = target / defaults[format]
    target.parent.mkdir(parents=True, exist_ok=True)
    indices = space.indices(dataset) if dataset is not None else np.arange(len(space))
    rows = np.ascontiguousarray(bundle.embeddings[indices], dtype=np.float32)

    planned: list[tuple[Path, Callable[[Path], None]]] = []

    def claim(file: Path, suffixes: tuple[str, ...], write: Callable[[Path], None]) -> Path:
        if file.suffix.lower() not in suffixes:
            raise BundleError(f"{file}: the {format} export writes {' or '.join(suffixes)} files")
        if file.exists() and not overwrite:
            raise BundleError(f"{file}: already exists; pass overwrite=True")
        planned.append((file, write))
        return file

    if format == "detic":
        claim(target, (".npy",), lambda p: _save_npy(p, rows))
    elif format == "openclip":
        columns = np.ascontiguousarray(rows.T)
        if target.suffix.lower() == ".npy":
            claim(target, (".npy", ".safetensors"), lambda p: _save_npy(p, columns))
        else:
            from safetensors.numpy import save_file

            claim(
                target,
                (".safetensors", ".npy"),
                lambda p: save_file({"zero_shot_classifier": columns}, str(p)),
            )
    elif format == "yoloworld":
        file = claim(target, (".npy",), lambda p: _save_npy(p, rows))
        names = [space[int(u)].clean_name for u in indices]
        text = json.dumps(names, ensure_ascii=False, indent=1) + "\n"
        claim(
            file.with_name(file.stem + ".names.json"),
            (".json",),
            lambda p: _save_text(p, text),
        )
    elif format == "csv":
        table = labels_table(space).iloc[indices]
        claim(target, (".csv",), lambda p: table.to_csv(p, index=False))
    else:
        _export_similarity(bundle, target, claim)
    for file, write in planned:  # every name is checked before anything is written
        atomic_write(file, write)
    return [file for file, _ in planned]


def _save_text(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")


def _save_npy(path: Path, array: npt.NDArray[Any]) -> None:
    with open(path, "wb") as handle:  # a file object: np.save adds no ".npy" suffix
        np.save(handle, array, allow_pickle=False)


def _export_similarity(bundle: LabelSpaceBundle, target: Path, claim: Any) -> None:
    if bundle.is_sparse:
        claim(target, (".npz",), lambda p: save_csr(p, bundle.similarity))
    else:
        claim(target, (".npy",), lambda p: _save_npy(p, np.asarray(bundle.similarity)))
