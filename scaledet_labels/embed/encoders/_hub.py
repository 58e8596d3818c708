"""Finding model files offline: package directories and the Hugging Face hub cache.

Cache look-ups go through huggingface_hub itself (``snapshot_download(...,
local_files_only=True)``, ``try_to_load_from_cache``) in the cache directory
``huggingface_hub.constants`` computed from ``HF_HUB_CACHE`` / ``HF_HOME``. Nothing here
imports torch, transformers or open_clip, so fingerprints of a fully cached model stay
light.

A download happens only when the model is not cached and the user is not offline
(``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``). It is a ``snapshot_download``, whose
first request lists the repo once: with no network it fails in well under a second,
where ``hf_hub_download`` would retry a missing connection for about 20 seconds. A
snapshot that holds no weights is refused up front, before anything loads.

Examples:
    >>> package_dir("json").name
    'json'
    >>> package_dir("no_such_package_here") is None
    True
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from scaledet_labels.embed.encoders.base import EncoderError, ModelNotAvailableError, env_flag

__all__ = [
    "HubKind",
    "hf_offline",
    "hub_cache_dir",
    "package_dir",
    "read_json",
    "resolve_hf_file",
    "resolve_hf_snapshot",
    "transformers_weight_files",
    "weight_files",
]

logger = logging.getLogger(__name__)

_OFFLINE = "offline mode is on (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)"
#: ``"hf"``: a transformers / sentence-transformers repo; ``"openclip"``: an open_clip repo.
HubKind = Literal["hf", "openclip"]

#: Configs, tokenizers and vocabularies (sentence-transformers sub-folders included).
_TEXT_PATTERNS = ("*.json", "*.txt", "*.model", "*.tiktoken", "vocab.*")
#: Weight files that make a snapshot loadable. open_clip's own ``local-dir:`` loader picks
#: its checkpoint among ``*.safetensors``, ``*.bin`` and ``*.pth``.
_WEIGHT_PATTERNS: dict[str, tuple[str, ...]] = {
    "hf": ("*.safetensors", "pytorch_model*.bin"),
    "openclip": ("*.safetensors", "*.bin", "*.pth"),
}


def hf_offline() -> bool:
    """Whether downloads are off: huggingface_hub's offline mode, or the flag set later.

    ``huggingface_hub.constants`` reads ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` once,
    when it is imported; a flag set after that (a notebook, a test) still stops our
    downloads, since it can only prevent network use.

    Examples:
        >>> isinstance(hf_offline(), bool)
        True
    """
    if env_flag("HF_HUB_OFFLINE") or env_flag("TRANSFORMERS_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - a transformers dependency
        return False
    return bool(constants.is_offline_mode())


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache directory (``huggingface_hub.constants.HF_HUB_CACHE``).

    Examples:
        >>> hub_cache_dir().is_absolute()
        True
    """
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def package_dir(package: str) -> Path | None:
    """The directory of an installed package, located without importing it.

    Examples:
        >>> (package_dir("json") / "__init__.py").is_file()
        True
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0])
    return Path(spec.origin).parent if spec.origin else None


def weight_files(directory: Path, kind: HubKind = "hf") -> list[Path]:
    """The weight files in a model directory (top level), sorted by name.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "config.json").write_text("{}")
        >>> weight_files(d)
        []
        >>> _ = (d / "model.safetensors").write_bytes(b"")
        >>> [p.name for p in weight_files(d)]
        ['model.safetensors']
    """
    found = {p for pattern in _WEIGHT_PATTERNS[kind] for p in directory.glob(pattern)}
    return sorted((p for p in found if p.is_file()), key=lambda p: p.name)


def transformers_weight_files(directory: Path) -> list[Path]:
    """The weight files transformers would load from ``directory`` (safetensors first)."""
    safetensors = sorted(directory.glob("model*.safetensors"))
    if safetensors:
        return safetensors
    return sorted(directory.glob("pytorch_model*.bin"))


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a model file.

    Raises:
        EncoderError: Unreadable, not JSON, or not an object.

    Examples:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "c.json"; _ = f.write_text('{"embed_dim": 512}')
        >>> read_json(f)
        {'embed_dim': 512}
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EncoderError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise EncoderError(f"{path}: expected a JSON object")
    return data


def how_to_supply(repo_id: str, kind: HubKind) -> str:
    """The instructions appended to a model-not-available error."""
    local = (
        "openclip:local-dir:/path/to/model (open_clip_config.json plus weights)"
        if kind == "openclip"
        else "hf:/path/to/model, e.g. saved with save_pretrained"
    )
    return (
        f"supply it as a local directory ({local}), or download it once with network "
        f"access: `hf download {repo_id}` (`huggingface-cli download {repo_id}` with "
        "huggingface_hub < 1.0), then HF_HUB_OFFLINE=1 works"
    )


def _cached_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot of ``repo_id``'s main revision, or ``None``; never the network."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, cache_dir=hub_cache_dir(), local_files_only=True))
    except Exception:  # not cached, incomplete, or an invalid repo id: all mean "not here"
        return None


def _why_not(exc: Exception) -> str:
    """One line saying why a hub request failed."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return "the repository is gated: accept its terms and log in with `hf auth login`"
    if isinstance(exc, RepositoryNotFoundError):
        return "no such repository on the hub (or it is private: log in with `hf auth login`)"
    if isinstance(exc, LocalEntryNotFoundError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        return f"the hub at {constants.ENDPOINT} cannot be reached{detail}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:300]}"


def _download(repo_id: str, patterns: Sequence[str], hint: str) -> Path:
    """``snapshot_download`` of the files matching ``patterns``; fails fast with no network."""
    from huggingface_hub import snapshot_download

    logger.info("downloading %s (%s) from the Hugging Face hub", repo_id, ", ".join(patterns))
    try:
        return Path(
            snapshot_download(repo_id, cache_dir=hub_cache_dir(), allow_patterns=list(patterns))
        )
    except Exception as exc:  # any hub failure becomes one clear error
        raise ModelNotAvailableError(
            f"could not download {repo_id!r}: {_why_not(exc)}; {hint}"
        ) from None


def _download_tiers(kind: HubKind) -> list[list[str]]:
    """What to fetch, in tiers: the next tier only when the snapshot still has no weights."""
    if kind == "openclip":
        # The files open_clip's own hf-hub loader fetches, safetensors first. Imported only
        # here, right before a download, so cache look-ups stay light.
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        return [[*_TEXT_PATTERNS, HF_SAFE_WEIGHTS_NAME], [HF_WEIGHTS_NAME]]
    return [[*_TEXT_PATTERNS, "*.safetensors"], ["pytorch_model*.bin"]]


def resolve_hf_snapshot(repo_id: str, *, kind: HubKind = "hf") -> Path:
    """A local snapshot of ``repo_id`` that holds weights, downloading it once if allowed.

    Args:
        repo_id: A hub repo id, ``org/name``.
        kind: ``"hf"`` (transformers weights: ``*.safetensors`` / ``pytorch_model*.bin``) or
            ``"openclip"`` (an open_clip checkpoint: ``*.safetensors`` / ``*.bin`` /
            ``*.pth``); it also words the error message.

    Raises:
        ModelNotAvailableError: Not cached (or cached without weights) and offline, the hub
            cannot be reached, the download failed, or the repo holds no weights.

    Examples:
        >>> path = resolve_hf_snapshot("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> path.parent.name, sorted(p.name for p in weight_files(path))  # doctest: +SKIP
        ('snapshots', ['model.safetensors'])
    """
    hint = how_to_supply(repo_id, kind)
    where = f"the local Hugging Face cache ({hub_cache_dir()})"
    snapshot = _cached_snapshot(repo_id)
    if snapshot is not None and weight_files(snapshot, kind):
        return snapshot
    if hf_offline():
        state = (
            f"is in {where} without weights ({snapshot})"
            if snapshot is not None
            else f"is not in {where}"
        )
        raise ModelNotAvailableError(f"model {repo_id!r} {state} and {_OFFLINE}; {hint}")
    for patterns in _download_tiers(kind):
        snapshot = _download(repo_id, patterns, hint)
        if weight_files(snapshot, kind):
            return snapshot
    raise ModelNotAvailableError(
        f"model {repo_id!r} holds no weights ({', '.join(_WEIGHT_PATTERNS[kind])}) on the hub "
        f"or in {snapshot}; {hint}"
    )


def resolve_hf_file(repo_id: str, filenames: Sequence[str], *, hint: str) -> Path:
    """The first of ``filenames`` cached for ``repo_id``, or downloaded once if allowed.

    Args:
        repo_id: A hub repo id, ``org/name``.
        filenames: Acceptable files, preferred first; only the first one present is fetched.
        hint: How the user can supply the file otherwise (appended to errors).

    Raises:
        ModelNotAvailableError: None cached and offline, the hub cannot be reached, or the
            repo has none of the files.

    Examples:
        >>> resolve_hf_file(  # doctest: +SKIP
        ...     "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        ...     ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"],
        ...     hint="or pass your own checkpoint",
        ... ).name
        'open_clip_model.safetensors'
    """
    from huggingface_hub import try_to_load_from_cache

    cache = hub_cache_dir()
    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache)
        if isinstance(found, str):
            return Path(found)
    names = ", ".join(filenames)
    if hf_offline():
        raise ModelNotAvailableError(
            f"{repo_id!r} ({names}) is not in the local Hugging Face cache ({cache}) and "
            f"{_OFFLINE}; {hint}"
        )
    for name in filenames:
        path = _download(repo_id, [name], hint) / name
        if path.is_file():
            return path
    raise ModelNotAvailableError(f"{repo_id!r} on the hub has none of {names}; {hint}")
