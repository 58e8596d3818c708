"""_hub: hub cache look-ups through huggingface_hub, offline mode, weights checks, fast failure.

Hub caches are faked: ``huggingface_hub.constants.HF_HUB_CACHE`` points at a tmp dir laid
out like the real cache (``models--org--name/refs/main``, ``snapshots/<commit>/...``).
"""

from __future__ import annotations

import doctest
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fake_hub import COMMIT, make_snapshot
from huggingface_hub import constants

from scaledet_labels.embed.encoders import ModelNotAvailableError, _hub


def test_doctests() -> None:
    assert doctest.testmod(_hub, optionflags=doctest.ELLIPSIS).failed == 0


def test_package_dir_finds_without_importing() -> None:
    root = _hub.package_dir("open_clip")
    assert root is not None and (root / "model_configs").is_dir()
    assert "pydoc_data" not in sys.modules  # a stdlib package nothing here imports
    assert (_hub.package_dir("pydoc_data") or Path()).name == "pydoc_data"
    assert "pydoc_data" not in sys.modules
    assert _hub.package_dir("no_such_package_anywhere") is None


def test_cache_dir_and_offline_come_from_huggingface_hub(hub: Path) -> None:
    assert _hub.hub_cache_dir() == hub
    assert _hub.hf_offline()


@pytest.mark.parametrize("flag", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_flag_set_after_import_is_honoured(
    hub: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert not _hub.hf_offline()
    monkeypatch.setenv(flag, "1")
    assert _hub.hf_offline()


def test_cached_snapshot_with_weights_is_found_offline(hub: Path) -> None:
    snapshot = make_snapshot(
        hub, "me/tiny", {"config.json": b"{}", "model.safetensors": b"weights"}
    )
    assert _hub.resolve_hf_snapshot("me/tiny") == snapshot
    assert _hub.resolve_hf_snapshot("me/tiny", kind="openclip") == snapshot


def test_snapshot_without_weights_is_refused_up_front(hub: Path) -> None:
    make_snapshot(hub, "me/config-only", {"config.json": b"{}", "tokenizer.json": b"{}"})
    with pytest.raises(ModelNotAvailableError) as info:
        _hub.resolve_hf_snapshot("me/config-only")
    message = str(info.value)
    assert "without weights" in message and "HF_HUB_OFFLINE" in message
    assert "hf:/path/to/model" in message and "hf download me/config-only" in message
    with pytest.raises(ModelNotAvailableError, match="openclip:local-dir:"):
        _hub.resolve_hf_snapshot("me/config-only", kind="openclip")


def test_weights_depend_on_kind(hub: Path) -> None:
    make_snapshot(hub, "me/oc", {"open_clip_config.json": b"{}", "epoch_3.pth": b"w"})
    assert _hub.resolve_hf_snapshot("me/oc", kind="openclip").name == COMMIT
    with pytest.raises(ModelNotAvailableError, match="without weights"):
        _hub.resolve_hf_snapshot("me/oc", kind="hf")  # transformers cannot load a .pth
    snapshot = make_snapshot(hub, "me/bin", {"pytorch_model-00001-of-00002.bin": b"w"})
    assert _hub.resolve_hf_snapshot("me/bin") == snapshot
    assert [p.name for p in _hub.weight_files(snapshot)] == ["pytorch_model-00001-of-00002.bin"]


def test_missing_model_offline(hub: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelNotAvailableError) as info:
        _hub.resolve_hf_snapshot("bogus-org/no-such-model")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "is not in the local Hugging Face cache" in message and str(hub) in message
    assert "HF_HUB_OFFLINE" in message and "hf download bogus-org/no-such-model" in message


def test_no_network_fails_fast(no_network: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelNotAvailableError) as info:
        _hub.resolve_hf_snapshot("bogus-org/no-such-model")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "cannot be reached" in message and "127.0.0.1:9" in message
    assert "hf:/path/to/model" in message
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        _hub.resolve_hf_file("bogus-org/no-such-model", ["w.safetensors"], hint="pass a file")
    assert time.monotonic() - start < 10


def test_cached_model_needs_no_network(no_network: Path) -> None:
    snapshot = make_snapshot(no_network, "me/tiny", {"model.safetensors": b"w"})
    start = time.monotonic()
    assert _hub.resolve_hf_snapshot("me/tiny") == snapshot
    assert _hub.resolve_hf_file("me/tiny", ["model.safetensors"], hint="") == (
        snapshot / "model.safetensors"
    )
    assert time.monotonic() - start < 2


def test_resolve_file_prefers_first_cached(hub: Path) -> None:
    snapshot = make_snapshot(hub, "me/clip", {"open_clip_pytorch_model.bin": b"w"})
    names = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    assert _hub.resolve_hf_file("me/clip", names, hint="") == snapshot / names[1]
    (snapshot / names[0]).write_bytes(b"w")
    assert _hub.resolve_hf_file("me/clip", names, hint="") == snapshot / names[0]
    with pytest.raises(ModelNotAvailableError) as info:
        _hub.resolve_hf_file("me/clip", ["other.bin"], hint="use openclip:M@/file")
    assert "HF_HUB_OFFLINE" in str(info.value) and "use openclip:M@/file" in str(info.value)


def test_bogus_endpoint_in_a_fresh_process(tmp_path: Path) -> None:
    """HF_ENDPOINT read by huggingface_hub at import: a download attempt fails at once."""
    code = textwrap.dedent(
        """
        import time
        from scaledet_labels.embed.encoders import ModelNotAvailableError, _hub
        start = time.monotonic()
        try:
            _hub.resolve_hf_snapshot("bogus-org/no-such-model")
        except ModelNotAvailableError as exc:
            print(round(time.monotonic() - start, 2), exc)
        """
    )
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path), "PATH": "/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    seconds, _, message = out.stdout.partition(" ")
    assert message, out.stderr
    assert float(seconds) < 5 and "cannot be reached" in message and "127.0.0.1:9" in message
