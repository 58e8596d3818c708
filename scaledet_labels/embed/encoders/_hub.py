"""Finding model files offline: package directories, the Hugging Face cache, one download.

Nothing here imports torch, transformers or open_clip: files are located by path (the
Hugging Face cache layout ``models--org--name/snapshots/<rev>``) so fingerprints can be
computed on a fully cached build. A download only happens when the model is not present,
the user is not offline (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``) and the hub
answers a short connection probe, so nothing hangs on a missing network.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from scaledet_labels.embed.encoders.base import ModelNotAvailableError, env_flag

__all__ = [
    "hf_offline",
    "network_available",
    "package_dir",
    "resolve_hf_snapshot",
]

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT_S = 3.0
HF_ALLOW_PATTERNS = (
    "*.json",
    "*.txt",
    "*.model",
    "*.safetensors",
    "*.tiktoken",
    "merges.txt",
    "vocab.*",
)


def hf_offline() -> bool:
    """Whether the user asked for offline mode (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``)."""
    return env_flag("HF_HUB_OFFLINE") or env_flag("TRANSFORMERS_OFFLINE")


@lru_cache(maxsize=8)
def network_available(url: str = "https://huggingface.co") -> bool:
    """A short TCP probe of ``url``'s host (3 s), remembered for the process."""
    endpoint = os.environ.get("HF_ENDPOINT", url)
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def package_dir(package: str) -> Path | None:
    """The directory of an installed package, located without importing it."""
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


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache directory, as huggingface_hub computes it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface",
    )
    return Path(home).expanduser() / "hub"


def local_snapshot(repo_id: str, revision: str = "main") -> Path | None:
    """The cached snapshot directory of a hub repo, or ``None`` when not downloaded."""
    repo_dir = hf_hub_cache() / f"models--{repo_id.replace('/', '--')}"
    ref = repo_dir / "refs" / revision
    commit = revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = repo_dir / "snapshots" / commit
    if snapshot.is_dir() and any(snapshot.iterdir()):
        return snapshot
    return None


def how_to_supply(repo_id: str, kind: str) -> str:
    """The instructions appended to a model-not-available error."""
    return (
        f"supply it as a local directory ({kind}:/path/to/model, e.g. saved with "
        f"save_pretrained), or download it once with network access: "
        f"`huggingface-cli download {repo_id}` (then HF_HUB_OFFLINE=1 works)"
    )


def resolve_hf_snapshot(repo_id: str, *, kind: str = "hf") -> Path:
    """A local directory holding ``repo_id``'s files, downloading them once if allowed.

    Raises:
        ModelNotAvailableError: Not cached and offline, no network, or the download failed.
    """
    found = local_snapshot(repo_id)
    if found is not None:
        return found
    if hf_offline():
        raise ModelNotAvailableError(
            f"model {repo_id!r} is not in the local Hugging Face cache ({hf_hub_cache()}) and "
            f"HF_HUB_OFFLINE is set; {how_to_supply(repo_id, kind)}"
        )
    if not network_available():
        raise ModelNotAvailableError(
            f"model {repo_id!r} is not in the local Hugging Face cache ({hf_hub_cache()}) and "
            f"the hub cannot be reached; {how_to_supply(repo_id, kind)}"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a transformers dependency
        raise ModelNotAvailableError(
            f"model {repo_id!r} is not cached and huggingface_hub is not installed; "
            f"{how_to_supply(repo_id, kind)}"
        ) from None
    logger.info("downloading %s from the Hugging Face hub (once)", repo_id)
    try:
        path = Path(snapshot_download(repo_id, allow_patterns=list(HF_ALLOW_PATTERNS)))
    except Exception as exc:  # any hub failure becomes one clear error
        raise ModelNotAvailableError(
            f"could not download model {repo_id!r}: {exc}; {how_to_supply(repo_id, kind)}"
        ) from None
    if not any(path.glob("*.safetensors")):
        try:
            path = Path(snapshot_download(repo_id, allow_patterns=["pytorch_model*.bin"]))
        except Exception as exc:
            raise ModelNotAvailableError(
                f"could not download weights of {repo_id!r}: {exc}; {how_to_supply(repo_id, kind)}"
            ) from None
    return path
