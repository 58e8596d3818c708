"""A bundle's label embeddings and names in an ultralytics YOLO-World or YOLOE model.

ultralytics' own ``set_classes(names)`` re-encodes class names with its text model (OpenAI
CLIP for YOLO-World, MobileCLIP for YOLOE), which it downloads on first use. With a bundle
the embeddings already exist: :func:`set_vocabulary` puts them in the model, with unique
class names (:func:`~scaledet_labels.bundle.export.export_names`), so that
``model.predict(...)`` names its boxes with the bundle's labels. Nothing is downloaded.

- **YOLO-World** (``WorldModel``): the rows become ``txt_feats`` ``(1, N, D)``, the head's
  ``nc`` becomes ``N`` and ``names`` the class names.
- **YOLOE** (``YOLOEModel``): the rows go through the model's own text head
  (``get_tpe``: the residual ``reprta`` block and L2 normalisation), under
  ``torch.no_grad()``, as YOLOE's ``get_text_pe`` does with its text encoder's output; then
  ``set_classes(names, embeddings)``.

A bundle whose width is not the model's is refused with a
:class:`~scaledet_labels.BundleError` before ultralytics would fail with a shape error; a
bundle of the right width from another text encoder than the released checkpoints' gets
an :class:`~scaledet_labels.bundle.export.ExportCompatibilityWarning` (``strict=True``:
an error), because the model runs but its scores will not mean these labels.

Examples:
    >>> from ultralytics import YOLO  # doctest: +SKIP
    >>> model = YOLO("yolov8s-worldv2.pt")  # doctest: +SKIP
    >>> set_vocabulary(model, "labelspaces/coco+voc", dataset="voc")  # doctest: +SKIP
    ['aeroplane', 'bicycle', ...]
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from scaledet_labels.bundle.container import LabelSpaceBundle, load_bundle
from scaledet_labels.bundle.export import (
    ExportCompatibilityWarning,
    check_consumer,
    export_names,
)
from scaledet_labels.errors import BundleError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["model_kind", "set_embeddings", "set_vocabulary"]


def _network(model: Any) -> tuple[Any, Any]:
    """``(wrapper, net)``: the ``ultralytics.YOLO`` object (or None) and its ``nn.Module``."""
    from ultralytics.nn.tasks import DetectionModel

    if isinstance(model, DetectionModel):
        return None, model
    inner = getattr(model, "model", None)
    if isinstance(inner, DetectionModel):
        return model, inner
    raise BundleError(
        f"expected an ultralytics YOLO-World or YOLOE model (YOLO('yolov8s-worldv2.pt'), "
        f"YOLOE('yoloe-11s-seg.pt') or their .model), got {type(model).__name__}"
    )


def model_kind(model: Any) -> str:
    """``"yoloworld"`` or ``"yoloe"``: which open-vocabulary ultralytics model this is.

    Raises:
        BundleError: Not an ultralytics YOLO-World or YOLOE model (a plain YOLO detector
            has a fixed classifier, not text embeddings).
    """
    from ultralytics.nn.tasks import WorldModel, YOLOEModel

    _, net = _network(model)
    if isinstance(net, WorldModel):
        return "yoloworld"
    if isinstance(net, YOLOEModel):
        return "yoloe"
    raise BundleError(
        f"{type(net).__name__} is not an open-vocabulary ultralytics model; label embeddings "
        "go into YOLO-World (yolov8*-world*.pt) or YOLOE (yoloe-*.pt) models"
    )


def _width(net: Any) -> int:
    """The text-embedding width the model's head was built for."""
    head = net.model[-1]
    width = getattr(head, "embed", None)  # YOLOEDetect
    if isinstance(width, int):
        return width
    return int(head.cv3[0][-1].out_channels)  # WorldDetect: cv3 ends in Conv2d(c3, embed, 1)


def set_embeddings(
    model: Any,
    embeddings: npt.ArrayLike,
    names: Sequence[str],
    *,
    manifest: dict[str, Any] | None = None,
    strict: bool = False,
) -> list[str]:
    """Put label embeddings ``(N, D)`` (or ``(1, N, D)``) and their names into the model.

    The low-level half of :func:`set_vocabulary`, for arrays that are not in a bundle
    (a ``yoloworld`` or ``yoloe`` export read back, for example).

    Args:
        model: An ``ultralytics`` ``YOLOWorld``/``YOLOE``/``YOLO`` object, or its ``.model``.
        embeddings: The rows, one per class, in the text encoder's space (not yet through
            YOLOE's text head).
        names: One unique, non-blank class name per row.
        manifest: The bundle manifest the rows come from, to check the encoder against the
            released checkpoints' (default: not checked).
        strict: Raise instead of warning when the encoder is not the released models'.

    Returns:
        The class names, in class-index order.

    Raises:
        BundleError: Not a YOLO-World/YOLOE model, a fused (prompt-free) YOLOE head, rows
            of another width than the model's, or names that do not fit the rows.
    """
    import torch

    kind = model_kind(model)
    wrapper, net = _network(model)
    rows = np.asarray(embeddings, dtype=np.float32)
    if rows.ndim == 3 and rows.shape[0] == 1:
        rows = rows[0]
    if rows.ndim != 2:
        raise BundleError(f"embeddings must be (N, D) or (1, N, D), got shape {rows.shape}")
    names = [str(name) for name in names]
    if len(names) != rows.shape[0]:
        raise BundleError(f"{len(names)} names for {rows.shape[0]} embedding rows")
    blank = [i for i, name in enumerate(names) if not name.strip()]
    if blank or len(set(names)) != len(names):
        raise BundleError(
            "class names must be unique and non-blank "
            f"({'blank: ' + str(blank) if blank else 'repeated: ' + _repeated(names)}); "
            "export_names() makes them unique"
        )
    width = _width(net)
    name = "YOLO-World" if kind == "yoloworld" else "YOLOE"
    if rows.shape[1] != width:
        made_by = (manifest or {}).get("encoder", {}).get("spec")
        source = f" (encoder {made_by})" if made_by else ""
        raise BundleError(
            f"the embeddings are {rows.shape[1]}-d{source} but this {name} model takes "
            f"{width}-d text "
            f"embeddings (released {name} models: 512-d); build the bundle with the "
            f"'{kind}' recipe (scaledet_labels.integrations.recipes) instead"
        )
    if manifest is not None:
        problem = check_consumer(
            manifest,
            kind,
            dim=rows.shape[1],
            n_labels=len(names),
            expected_dim=width,
            subject=f"the vocabulary for this {name} model",
        )
        if problem is not None:
            if strict:
                raise BundleError(problem)
            warnings.warn(problem, ExportCompatibilityWarning, stacklevel=3)
    param = next(net.parameters())
    tensor = torch.from_numpy(np.ascontiguousarray(rows))[None].to(param.device, param.dtype)
    if kind == "yoloworld":
        net.txt_feats = tensor
        net.model[-1].nc = len(names)
        net.names = list(names)
        if wrapper is not None:
            wrapper.predictor = None  # a cached predictor keeps the old classes
        return names
    head = net.model[-1]
    if hasattr(head, "lrpc") or getattr(head, "is_fused", False):
        raise BundleError(
            "this YOLOE model's vocabulary is fused into its head (a prompt-free or exported "
            "model); load an unfused YOLOE checkpoint (yoloe-*-seg.pt) to set classes"
        )
    with torch.no_grad():
        prompts = head.get_tpe(tensor)
    (wrapper if wrapper is not None else net).set_classes(names, prompts)
    return names


def _repeated(names: Sequence[str]) -> str:
    counts = Counter(names)
    return ", ".join(repr(name) for name, count in counts.items() if count > 1)


def set_vocabulary(
    model: Any,
    bundle: LabelSpaceBundle | str | os.PathLike[str],
    dataset: str | None = None,
    *,
    strict: bool = False,
) -> list[str]:
    """Put a bundle's label embeddings and names into a YOLO-World or YOLOE model.

    Args:
        model: An ``ultralytics`` ``YOLOWorld``/``YOLOE``/``YOLO`` object (built from a
            ``.pt`` or a ``.yaml``), or its ``.model``.
        bundle: A :class:`~scaledet_labels.LabelSpaceBundle` or a bundle directory.
        dataset: One dataset's labels, in its own order (default: every label; names
            shared by two datasets become ``dataset:name``).
        strict: Raise instead of warning when the bundle's encoder is not the one the
            released checkpoints were trained with.

    Returns:
        The class names, in class-index order (``model.names`` after the call).

    Raises:
        BundleError: Not a YOLO-World/YOLOE model, a fused YOLOE head, an unknown dataset,
            or a bundle of another width than the model's (before ultralytics would stop
            with a shape error).

    Warns:
        ExportCompatibilityWarning: The bundle was built with another text encoder than
            the released checkpoints'.

    Examples:
        >>> from ultralytics import YOLO  # doctest: +SKIP
        >>> model = YOLO("yolov8s-worldv2.pt")  # doctest: +SKIP
        >>> names = set_vocabulary(model, "labelspaces/coco", dataset="coco")  # doctest: +SKIP
        >>> results = model.predict("bus.jpg")  # doctest: +SKIP
    """
    if not isinstance(bundle, LabelSpaceBundle):
        bundle = load_bundle(bundle)
    space = bundle.label_space
    indices = space.indices(dataset) if dataset is not None else np.arange(len(space))
    return set_embeddings(
        model,
        bundle.embeddings[indices],
        export_names(space, indices),
        manifest=bundle.manifest,
        strict=strict,
    )
