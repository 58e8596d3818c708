"""A bundle's manifest: its schema, its identity, and the digests that seal it.

The manifest (``manifest.json``) says what a bundle means: labels, datasets, encoder,
templates, recipe, similarity options and the digest of every data file. A bundle is only
as trustworthy as its manifest, so the manifest is sealed when the bundle is written and
checked whenever one is read (``load_bundle``, and so ``info``, ``neighbors``, ``export``,
``report`` and ``ScaleDetLoss.from_bundle``):

1. **Schema**: every key is present with the right type (:func:`validate`); a missing or
   mistyped key is a one-line :class:`~scaledet_labels.BundleError` naming the key,
   never a ``KeyError`` traceback. File entries must be plain names inside the bundle.
2. **Seal**: ``digests`` holds the SHA-256 of every other key's canonical JSON, and
   ``manifest_sha256`` the SHA-256 of the whole manifest (:func:`seal`). Any edit that
   changes the manifest's content is refused, and the error names the key that changed
   (:func:`verify_seal`). Edits that leave the JSON content equal (white space) are
   harmless and accepted.
3. **Identity**: ``identity`` is recomputed from the parts that determine the numbers
   (:func:`bundle_identity`) and compared.

This is protection against damage and editing mistakes, not a signature: someone who
rewrites the manifest and recomputes every digest makes a new, self-consistent bundle.

Examples:
    >>> m = seal({"schema": "s", "n_labels": 2})
    >>> verify_seal(m, "b")
    >>> m["n_labels"] = 3
    >>> verify_seal(m, "b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    scaledet_labels.errors.BundleError: b/manifest.json: 'n_labels' was changed after ...
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from scaledet_labels.errors import BundleError

__all__ = [
    "MANIFEST",
    "bundle_identity",
    "canonical_sha256",
    "seal",
    "validate",
    "verify_seal",
]

MANIFEST = "manifest.json"
_SEAL_KEYS = ("digests", "manifest_sha256")


def canonical_sha256(value: Any) -> str:
    """SHA-256 of ``value``'s canonical JSON (sorted keys, no spaces, UTF-8)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def bundle_identity(parts: Mapping[str, Any]) -> str:
    """The identity of a bundle's numbers from the manifest parts that determine them.

    Everything that changes the embeddings or the similarity counts (label space content,
    encoder fingerprint, templates, synonyms, every label's prompts, recipe, precomputed
    inputs, similarity options); nothing that does not (paths, times, library version).
    """
    similarity = parts["similarity"]
    payload = {
        "label_space": parts["label_space_hash"],
        "encoder": parts["encoder"].get("fingerprint"),
        "templates": parts["templates"],
        "synonyms": parts["synonyms"],
        "prompts": parts.get("prompts_identity"),
        "recipe": parts["recipe"],
        "precomputed": parts["precomputed"],
        "similarity": [similarity["normalization"], similarity["topk"], similarity["dtype"]],
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def seal(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` with ``digests`` (one per key) and ``manifest_sha256``."""
    body = {k: v for k, v in manifest.items() if k not in _SEAL_KEYS}
    sealed = dict(body)
    sealed["digests"] = {key: canonical_sha256(value) for key, value in sorted(body.items())}
    sealed["manifest_sha256"] = canonical_sha256(
        {k: v for k, v in sealed.items() if k != "manifest_sha256"}
    )
    return sealed


def verify_seal(manifest: Mapping[str, Any], where: str) -> None:
    """Check the digests written by :func:`seal`.

    Raises:
        BundleError: The manifest changed after it was written; the message names the
            key that was changed, added or removed.
    """
    file = f"{where}/{MANIFEST}"
    expected = manifest.get("manifest_sha256")
    digests = manifest.get("digests")
    if not isinstance(expected, str) or not isinstance(digests, dict):
        raise BundleError(
            f"{file}: no 'digests'/'manifest_sha256' seal (removed, or not written by this "
            "library); rebuild the bundle"
        )
    if canonical_sha256({k: v for k, v in manifest.items() if k != "manifest_sha256"}) == expected:
        return
    body = {k: v for k, v in manifest.items() if k not in _SEAL_KEYS}
    for key in sorted(set(body) | set(digests)):
        if key not in digests:
            problem = "was added"
        elif key not in body:
            problem = "was removed"
        elif canonical_sha256(body[key]) != digests[key]:
            problem = "was changed"
        else:
            continue
        raise BundleError(
            f"{file}: {key!r} {problem} after the bundle was written (its digest does not "
            "match); rebuild the bundle"
        )
    raise BundleError(f"{file}: its 'digests' or 'manifest_sha256' seal was edited")


# -- schema ----------------------------------------------------------------------------------
Check = Callable[[Any], bool]


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pos_int(v: Any) -> bool:
    return _int(v) and v >= 1


def _opt_pos_int(v: Any) -> bool:
    return v is None or _pos_int(v)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _hex64(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _dict(v: Any) -> bool:
    return isinstance(v, dict)


def plain_file_name(name: Any) -> bool:
    """Whether ``name`` is a plain file name: no directory part, no ``..``, not hidden."""
    return (
        isinstance(name, str)
        and bool(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and ":" not in name
    )


#: key -> (check, what is accepted) for the top level of a manifest.
_TOP: dict[str, tuple[Check, str]] = {
    "schema": (_str, "a string"),
    "version": (_int, "an integer"),
    "library_version": (_str, "a string"),
    "identity": (_hex64, "a SHA-256 hex digest"),
    "n_labels": (_pos_int, "a positive integer"),
    "dim": (_pos_int, "a positive integer"),
    "datasets": (lambda v: isinstance(v, list) and bool(v), "a non-empty list"),
    "encoder": (_dict, "an object"),
    "templates": (_str_list, "a list of strings"),
    "template_set": (_opt_str, "a string or null"),
    "synonyms": (_bool, "true or false"),
    "recipe": (_str, "a string"),
    "precomputed": (
        lambda v: isinstance(v, dict) and all(_hex64(x) for x in v.values()),
        "an object of SHA-256 digests",
    ),
    "similarity": (_dict, "an object"),
    "label_space_hash": (_hex64, "a SHA-256 hex digest"),
    "arrays_hash": (_hex64, "a SHA-256 hex digest"),
    "files": (lambda v: isinstance(v, dict) and bool(v), "a non-empty object"),
}


def _precomputed_sources(v: Any) -> bool:
    """``{dataset: {"file": name or null, "sha256": digest or null, "dtype", "shape"}}``."""
    return isinstance(v, dict) and all(
        isinstance(r, dict)
        and _opt_str(r.get("file"))
        and (r.get("sha256") is None or _hex64(r.get("sha256")))
        and _str(r.get("dtype"))
        and isinstance(r.get("shape"), list)
        and len(r["shape"]) == 2
        and all(_pos_int(x) for x in r["shape"])
        for r in v.values()
    )


_OPTIONAL_TOP: dict[str, tuple[Check, str]] = {
    "stats": (_dict, "an object"),
    "precomputed_sources": (
        _precomputed_sources,
        "an object of {file, sha256, dtype, shape} records, one per precomputed dataset",
    ),
    "prompts_identity": (lambda v: v is None or _hex64(v), "a SHA-256 hex digest or null"),
    "roles": (
        lambda v: (
            isinstance(v, dict)
            and set(v) == {"embeddings", "similarity", "labels", "table"}
            and all(isinstance(x, str) for x in v.values())
        ),
        "an object naming the embeddings, similarity, labels and table files",
    ),
}
_DATASET: dict[str, tuple[Check, str]] = {
    "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "count": (_pos_int, "a positive integer"),
    "source": (_str, "a string"),
}
_ENCODER: dict[str, tuple[Check, str]] = {
    "spec": (_opt_str, "a string or null"),
    "fingerprint": (_opt_str, "a string or null"),
}
_SIMILARITY: dict[str, tuple[Check, str]] = {
    "normalization": (_str, "a string"),
    "topk": (_opt_pos_int, "a positive integer or null"),
    "dtype": (_str, "a string"),
}
_FILE: dict[str, tuple[Check, str]] = {
    "sha256": (_hex64, "a SHA-256 hex digest"),
    "bytes": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
}


def _check_fields(
    record: Any,
    fields: Mapping[str, tuple[Check, str]],
    path: str,
    file: str,
    optional: Mapping[str, tuple[Check, str]] | None = None,
) -> None:
    if not isinstance(record, dict):
        raise BundleError(f"{file}: {path} must be an object, got {type(record).__name__}")
    for key, (check, accepted) in fields.items():
        name = f"{path}.{key}" if path else key
        if key not in record:
            raise BundleError(f"{file}: key {name!r} is missing; rebuild the bundle")
        if not check(record[key]):
            raise BundleError(f"{file}: key {name!r} must be {accepted}, got {record[key]!r:.60}")
    for key, (check, accepted) in (optional or {}).items():
        if key in record and not check(record[key]):
            name = f"{path}.{key}" if path else key
            raise BundleError(f"{file}: key {name!r} must be {accepted}, got {record[key]!r:.60}")


def validate(manifest: Any, where: str) -> None:
    """Check that ``manifest`` has every key a bundle needs, with the right types.

    Raises:
        BundleError: A key is missing or of the wrong type, a file entry is not a plain
            name inside the bundle directory; the message names the key.
    """
    file = f"{where}/{MANIFEST}"
    _check_fields(manifest, _TOP, "", file, _OPTIONAL_TOP)
    for i, dataset in enumerate(manifest["datasets"]):
        _check_fields(dataset, _DATASET, f"datasets[{i}]", file)
    _check_fields(manifest["encoder"], _ENCODER, "encoder", file)
    if "dim" in manifest["encoder"] and not _pos_int(manifest["encoder"]["dim"]):
        raise BundleError(f"{file}: key 'encoder.dim' must be a positive integer")
    _check_fields(manifest["similarity"], _SIMILARITY, "similarity", file)
    for name, entry in manifest["files"].items():
        if not plain_file_name(name):
            raise BundleError(
                f"{file}: file entry {name!r} is not a plain file name inside the bundle "
                "directory; refusing to open it"
            )
        _check_fields(entry, _FILE, f"files[{name!r}]", file)
