"""Exporting a bundle to the formats other detection tools load, checked against them.

==============  ==============================================================================
format          what is written
==============  ==============================================================================
``detic``       float32 ``(C, D)`` ``.npy`` of one dataset (``dataset=``) or the unified space,
                rows in label order, as Detic's ``ZeroShotClassifier`` loads via
                ``MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_PATH``; plus ``<stem>.names.json``
``openclip``    a ``(D, C)`` float32 matrix, what ``open_clip.build_zero_shot_classifier``
                returns: ``.safetensors`` (key ``zero_shot_classifier``; no pickle) or
                ``.npy``; plus ``<stem>.names.json``
``yoloworld``   ``(N, D)`` float32 ``.npy`` plus ``<stem>.names.json`` with the class names in
                the same order (ultralytics YOLO-World's ``txt_feats`` and ``names``)
``yoloe``       ``.npz`` with ``embeddings`` ``(1, N, D)`` float32 and ``names`` ``(N,)``
                strings: ultralytics YOLOE's ``set_classes(names, embeddings)`` input, before
                the model's own text head (see :mod:`scaledet_labels.integrations.ultralytics`)
``csv``         the labels table: index, dataset, local index, id, raw/clean names, synonyms
``similarity``  the similarity matrix: ``.npy`` dense, or ``.npz`` CSR (top-k bundles); plus
                ``<stem>.names.json`` naming its rows
==============  ==============================================================================

Every format that does not carry names itself gets a names file beside it. Names are the
labels' clean names; where two labels of the export share one (COCO and VOC both have
``person``), both are qualified with their dataset, ``coco:person`` and ``voc:person``, so
that every name of an export is unique (see :func:`export_names`).

**Consumers.** ``detic``, ``yoloworld`` and ``yoloe`` files are read by models whose
released weights were trained on one text encoder's embeddings: 512-d OpenAI CLIP
ViT-B/32 for Detic and YOLO-World, 512-d MobileCLIP for YOLOE (:data:`CONSUMERS`). An
export of another width cannot be loaded by those models, and one of another encoder loads
but means nothing to them; either gives one :class:`ExportCompatibilityWarning` that says
what will and will not work and which config keys a model trained on this file needs.
``strict=True`` makes it a :class:`~scaledet_labels.BundleError` instead.

Examples:
    >>> bundle.export("detic", "coco_clip.npy", dataset="coco")  # doctest: +SKIP
    [PosixPath('coco_clip.npy'), PosixPath('coco_clip.names.json')]
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from scaledet_labels.bundle.files import atomic_write, safe_file_stem
from scaledet_labels.bundle.io import save_csr, write_labels_csv
from scaledet_labels.embed.encoders.spec import EncoderSpec, parse_encoder_spec
from scaledet_labels.errors import BundleError, EncoderSpecError

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaledet_labels.bundle.container import LabelSpaceBundle
    from scaledet_labels.vocab.label_space import LabelSpace

__all__ = [
    "CONSUMERS",
    "EXPORT_FORMATS",
    "Consumer",
    "ExportCompatibilityWarning",
    "ExportFormat",
    "check_consumer",
    "export_bundle",
    "export_names",
]

logger = logging.getLogger(__name__)

ExportFormat = Literal["detic", "openclip", "yoloworld", "yoloe", "csv", "similarity"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)


class ExportCompatibilityWarning(UserWarning):
    """The consumer's released models cannot use an export as intended (width or encoder).

    The message says what will and will not work and which config keys to set; pass
    ``strict=True`` (CLI: ``--strict``) to get a :class:`~scaledet_labels.BundleError`
    instead.
    """


# -- consumers -------------------------------------------------------------------------------
def _is_openai_vit_b32(spec: EncoderSpec) -> bool | None:
    """Whether ``spec`` is OpenAI's CLIP ViT-B/32 (None: cannot tell, e.g. a checkpoint)."""
    if spec.family == "openclip":
        model = spec.model.lower()
        if model.startswith(("hf-hub:", "local-dir:")):
            return True if "vit_base_patch32_clip_224.openai" in model else None
        if model not in ("vit-b-32", "vit-b-32-quickgelu"):
            return False
        return None if spec.checkpoint else spec.pretrained == "openai"
    if spec.family == "hf":
        if spec.model.rstrip("/").endswith("clip-vit-base-patch32"):
            return True
        return None if os.sep in spec.model and Path(spec.model).exists() else False
    return False


def _is_mobileclip(spec: EncoderSpec) -> bool | None:
    """Whether ``spec`` is a MobileCLIP text tower (None: a checkpoint of another name)."""
    if "mobileclip" in spec.model.lower():
        return True
    if spec.family == "openclip" and spec.checkpoint:
        return False
    return None if spec.family == "hf" and Path(spec.model).exists() else False


@dataclass(frozen=True)
class Consumer:
    """What a detector's released models expect from a label-embedding export.

    Attributes:
        name: The detector, as its users call it.
        dim: The text-embedding width of its released configs and checkpoints.
        encoder: The text encoder its released models were trained on, in words.
        prompt: The prompt of its released embeddings, in words.
        encoder_spec: The encoder spec of this library that gives those embeddings.
        templates: The ``templates=`` that reproduces its prompt.
        synonyms: Whether its released embeddings average synonyms (none of them do).
        same_encoder: ``spec -> True / False / None`` (None: cannot tell).
        settings: What a model trained on a ``{dim}``-wide file of ``{n}`` labels sets
            (a format string with ``{file}``, ``{dim}`` and ``{n}``).
        failure: What the released models do with a file of the wrong width.
    """

    name: str
    dim: int
    encoder: str
    prompt: str
    encoder_spec: str
    templates: str
    synonyms: bool
    same_encoder: Callable[[EncoderSpec], bool | None]
    settings: str
    failure: str

    def build_flags(self) -> str:
        """The ``scaledet-labels build`` options that reproduce its embeddings."""
        flags = f"--encoder {self.encoder_spec} --templates '{self.templates}'"
        return flags if self.synonyms else flags + " --no-synonyms"


#: The consumers whose released models fix the width and encoder of an export.
CONSUMERS: Mapping[str, Consumer] = {
    "detic": Consumer(
        name="Detic",
        dim=512,
        encoder="OpenAI CLIP ViT-B/32",
        prompt="prompt 'a {}'",
        encoder_spec="openclip:ViT-B-32/openai",
        templates="a",
        synonyms=False,
        same_encoder=_is_openai_vit_b32,
        settings=(
            "MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_PATH {file} "
            "MODEL.ROI_BOX_HEAD.ZEROSHOT_WEIGHT_DIM {dim} MODEL.ROI_HEADS.NUM_CLASSES {n} "
            "(mmdetection Detic_new: zs_weight_path='{file}', zs_weight_dim={dim}, "
            "num_classes={n})"
        ),
        failure="loading stops with 'Expected size {dim} but got size 512'",
    ),
    "yoloworld": Consumer(
        name="YOLO-World",
        dim=512,
        encoder="OpenAI CLIP ViT-B/32",
        prompt="bare class names",
        encoder_spec="openclip:ViT-B-32/openai",
        templates="{}",
        synonyms=False,
        same_encoder=_is_openai_vit_b32,
        settings=(
            "a model yaml whose WorldDetect is [nc, {dim}, True] and whose C2fAttn guide "
            "channels are {dim}, trained on this file's {n} classes"
        ),
        failure="ultralytics stops with a shape error in the first forward pass",
    ),
    "yoloe": Consumer(
        name="YOLOE",
        dim=512,
        encoder="MobileCLIP-B (LT) (YOLOE-26: MobileCLIP2-B)",
        prompt="bare class names",
        encoder_spec="openclip:MobileCLIP-B/datacompdr_lt",
        templates="{}",
        synonyms=False,
        same_encoder=_is_mobileclip,
        settings="a model yaml whose YOLOEDetect is [nc, {dim}, True], trained on {n} classes",
        failure="ultralytics stops with a shape error in the first forward pass",
    ),
}


def _encoder_of(manifest: Mapping[str, Any]) -> tuple[EncoderSpec | None, str]:
    """The parsed encoder spec of a bundle (None when unknown) and words for it."""
    encoder = manifest.get("encoder") or {}
    spec = encoder.get("spec")
    precomputed = sorted(manifest.get("precomputed") or {})
    if spec is None:
        if encoder.get("fingerprint") is None:
            return None, f"precomputed: {', '.join(precomputed)}"
        return None, "a Python encoder"
    try:
        return parse_encoder_spec(spec), f"encoder {spec}"
    except EncoderSpecError:
        return None, f"encoder {spec}"


def check_consumer(
    manifest: Mapping[str, Any],
    format: str,
    *,
    dim: int,
    n_labels: int,
    target: str | os.PathLike[str] = "",
    expected_dim: int | None = None,
    subject: str | None = None,
) -> str | None:
    """Why ``format``'s consumer cannot use these embeddings as intended; None if it can.

    Args:
        manifest: The bundle's manifest (its encoder and precomputed datasets).
        format: An export format; only :data:`CONSUMERS` formats are checked.
        dim: The embedding width.
        n_labels: How many labels the export holds.
        target: The file (named in the message and the config keys).
        expected_dim: The width of the model at hand (default: the consumer's released
            width). Give it for a model you trained yourself with another width.
        subject: What the message starts with (default ``"<Consumer> export <file>"``).

    Returns:
        One line saying what will and will not work and which config keys to set, or
        None when the width matches and the encoder is the consumer's (or cannot be told,
        as for precomputed embeddings: those are logged at INFO level).

    Examples:
        >>> m = {"encoder": {"spec": "minilm", "fingerprint": "hf-mean-0"}, "precomputed": {}}
        >>> print(check_consumer(m, "detic", dim=384, n_labels=80, target="coco.npy"))
        ... # doctest: +ELLIPSIS
        Detic export coco.npy: its rows are 384-d (encoder minilm), but ...
    """
    consumer = CONSUMERS.get(format)
    if consumer is None:
        return None
    file = os.fspath(target) or f"the {format} file"
    name = Path(file).name
    subject = subject or f"{consumer.name} export {name}"
    want = consumer.dim if expected_dim is None else expected_dim
    settings = consumer.settings.format(file=file, dim=dim, n=n_labels)
    recipe = f"build with the '{format}' recipe ({consumer.build_flags()})"
    spec, words = _encoder_of(manifest)
    if dim != want:
        return (
            f"{subject}: its rows are {dim}-d ({words}), but "
            f"{consumer.name}'s released configs and checkpoints use {want}-d "
            f"{consumer.encoder} text embeddings ({consumer.prompt}), so they cannot load it "
            f"({consumer.failure.format(dim=dim)}). It works only with a {consumer.name} model "
            f"you train yourself with {settings}. For the released weights, {recipe}."
        )
    same = consumer.same_encoder(spec) if spec is not None else None
    if same is False:
        return (
            f"{subject}: built with {words}, but {consumer.name}'s released "
            f"checkpoints were trained on {consumer.encoder} embeddings ({consumer.prompt}): "
            "the file loads and "
            f"boxes get these names, but the released models' scores will not mean these "
            f"labels. It works with a {consumer.name} model you train yourself with "
            f"{settings}. For the released weights, {recipe}."
        )
    if same is None:
        logger.info(
            "%s: %d-d rows from %s; %s's released checkpoints need %s embeddings "
            "(not checked); set %s",
            subject,
            dim,
            words,
            consumer.name,
            consumer.encoder,
            settings,
        )
    return None


# -- names -----------------------------------------------------------------------------------
def export_names(space: LabelSpace, indices: Sequence[int] | npt.NDArray[Any]) -> list[str]:
    """Unique class names for the labels ``indices`` of ``space``, in that order.

    A label's clean name, unless another label of the same export has that name (ignoring
    case): then ``dataset:name`` (the label's :attr:`~scaledet_labels.UnifiedLabel.key`,
    unique within a label space).

    Examples:
        >>> from scaledet_labels import LabelSpace
        >>> space = LabelSpace.union(["person, car", "Person, bus"], names=["a", "b"])
        >>> export_names(space, range(4))
        ['a:person', 'car', 'b:person', 'bus']
    """
    labels = [space[int(u)] for u in indices]
    counts = Counter(label.clean_name.casefold() for label in labels)
    return [
        label.key if counts[label.clean_name.casefold()] > 1 else label.clean_name
        for label in labels
    ]


# -- export ----------------------------------------------------------------------------------
def export_bundle(
    bundle: LabelSpaceBundle,
    format: str,
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> list[Path]:
    """Write ``bundle`` in another tool's format; returns the files written.

    Args:
        bundle: The bundle.
        format: One of ``detic``, ``openclip``, ``yoloworld``, ``yoloe``, ``csv``,
            ``similarity``.
        path: Output file. A directory (existing, or a path ending in ``/``) gets a
            default file name.
        dataset: Restrict to one dataset's labels in its own order (all formats but
            ``similarity``, which is always the unified matrix).
        overwrite: Replace existing files (default False, as for
            :meth:`~scaledet_labels.LabelSpaceBundle.save`).
        strict: Raise instead of warning when the consumer's released models cannot use
            the export (wrong width or text encoder; see :func:`check_consumer`).

    Raises:
        BundleError: Unknown format, a file extension the format cannot write, an
            existing file with ``overwrite=False``, or with ``strict=True`` an export its
            consumer's released models cannot use. Nothing is written then.

    Warns:
        ExportCompatibilityWarning: The consumer's released models cannot use the export.

    Examples:
        >>> import tempfile, numpy as np, scaledet_labels as sl
        >>> b = sl.build_label_space(["cat, dog"], precomputed={"custom": np.eye(2, 512)})
        >>> [p.name for p in export_bundle(b, "detic", tempfile.mkdtemp())]
        ['custom_clip.npy', 'custom_clip.names.json']
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
        "yoloe": f"{stem}_yoloe.npz",
        "csv": f"{stem}_labels.csv",
        "similarity": "similarity.npz" if bundle.is_sparse else "similarity.npy",
    }
    target = Path(path)
    if target.is_dir() or str(path).endswith(os.sep):
        target = target / defaults[format]
    if format == "similarity":
        indices = np.arange(len(space))
    else:
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

    def claim_names(file: Path) -> None:
        text = json.dumps(export_names(space, indices), ensure_ascii=False, indent=1) + "\n"
        claim(file.with_name(file.stem + ".names.json"), (".json",), lambda p: _save_text(p, text))

    if format == "detic":
        claim_names(claim(target, (".npy",), lambda p: _save_npy(p, rows)))
    elif format == "openclip":
        columns = np.ascontiguousarray(rows.T)
        if target.suffix.lower() == ".npy":
            file = claim(target, (".npy", ".safetensors"), lambda p: _save_npy(p, columns))
        else:
            from safetensors.numpy import save_file

            file = claim(
                target,
                (".safetensors", ".npy"),
                lambda p: save_file({"zero_shot_classifier": columns}, str(p)),
            )
        claim_names(file)
    elif format == "yoloworld":
        claim_names(claim(target, (".npy",), lambda p: _save_npy(p, rows)))
    elif format == "yoloe":
        names = np.asarray(export_names(space, indices), dtype=np.str_)
        claim(target, (".npz",), lambda p: _save_npz(p, embeddings=rows[None], names=names))
    elif format == "csv":
        claim(target, (".csv",), lambda p: write_labels_csv(space, p, indices))
    else:
        claim_names(_export_similarity(bundle, target, claim))
    problem = check_consumer(
        bundle.manifest, format, dim=bundle.dim, n_labels=len(indices), target=target
    )
    if problem is not None:
        if strict:
            raise BundleError(f"{problem} (strict: nothing was written)")
        warnings.warn(problem, ExportCompatibilityWarning, stacklevel=2)
    target.parent.mkdir(parents=True, exist_ok=True)
    for file, write in planned:  # every name is checked before anything is written
        atomic_write(file, write)
    return [file for file, _ in planned]


def _save_text(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")


def _save_npy(path: Path, array: npt.NDArray[Any]) -> None:
    with open(path, "wb") as handle:  # a file object: np.save adds no ".npy" suffix
        np.save(handle, array, allow_pickle=False)


def _save_npz(path: Path, embeddings: npt.NDArray[Any], names: npt.NDArray[Any]) -> None:
    with open(path, "wb") as handle:  # plain (unicode, float) arrays: no pickle
        np.savez(handle, embeddings=embeddings, names=names)


def _export_similarity(bundle: LabelSpaceBundle, target: Path, claim: Any) -> Path:
    if bundle.is_sparse:
        file: Path = claim(target, (".npz",), lambda p: save_csr(p, bundle.similarity))
    else:
        file = claim(target, (".npy",), lambda p: _save_npy(p, np.asarray(bundle.similarity)))
    return file
