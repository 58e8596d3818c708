"""Exact fast forward passes for standard open_clip text towers: trimming and packing.

A standard CLIP text tower (causal attention mask, pooling at the EOT token or the first
token) never lets a token see the tokens after it, so a prompt's embedding does not
depend on the padding after its EOT, nor on other prompts in its row as long as the
attention mask keeps them apart. Two ways to use that:

* :func:`forward_trimmed`: a batch padded only to its own longest prompt (slices of the
  positional embedding and of the causal mask). Works for any block type.
* :func:`encode_packed`: prompts sorted by token ids share their common prefix (a
  template's leading words, ``<sot> a photo of the``); a *segment* holds that prefix
  once followed by the rest of each prompt, and segments fill rows of :data:`PACK_ROW`
  tokens. The attention mask lets each prompt's tokens see their segment's prefix and
  their own earlier tokens only; positions continue from the prefix. Each prompt's EOT
  feature is what it would be alone; rows carry little padding, shared prefixes are
  computed once, and a few large batches keep the work in big matrix products. Needs
  ``nn.MultiheadAttention`` blocks (for the per-row 3-D mask).

Both match open_clip's ``encode_text`` up to float rounding (tested to 1e-5 against
``open_clip.build_zero_shot_classifier``).

Examples:
    >>> rows = plan_rows([[1, 5, 6, 9], [1, 5, 7, 9], [1, 5, 8, 9]], capacity=16)
    >>> [(seg.prefix, seg.members) for seg in rows[0].segments], rows[0].width
    ([(2, [0, 1, 2])], 8)
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

__all__ = [
    "PACK_ROW",
    "TRIM_POOLS",
    "PackedRow",
    "Segment",
    "TextParts",
    "encode_packed",
    "forward_trimmed",
    "plan_rows",
    "project",
    "text_parts",
]

TRIM_POOLS = ("argmax", "eos", "first")
PACK_ROW = 128  # tokens per packed row


@dataclass
class TextParts:
    """The pieces of a standard open_clip text tower that the fast forward passes use."""

    token_embedding: Any
    positional_embedding: Any
    transformer: Any
    ln_final: Any
    text_projection: Any
    attn_mask: Any
    pool_type: str
    eos_id: int | None
    heads: int | None  # set when every block is an nn.MultiheadAttention (packing works)


def text_parts(model: Any) -> tuple[TextParts | None, str]:
    """The trimmable parts of ``model``'s text tower, or ``None`` and the reason why not."""
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "token_embedding"):
        if getattr(text, "cls_emb", None) is not None:
            return None, "appends a CLS token"
        if getattr(text, "use_pad_mask", False):
            return None, "masks padding (bidirectional)"
        tower, pool, eos = text, getattr(text, "pool_type", "argmax"), getattr(text, "eos_id", None)
    elif hasattr(model, "token_embedding") and hasattr(model, "transformer"):
        tower = model
        pool = getattr(model, "text_pool_type", "argmax")
        eos = getattr(model, "text_eos_id", None)
    else:
        return None, "has no standard open_clip text transformer"
    if getattr(tower, "attn_mask", None) is None:
        return None, "has no causal mask (no_causal_mask)"
    if pool not in TRIM_POOLS:
        return None, f"pools with {pool!r}"
    import torch

    blocks = list(getattr(tower.transformer, "resblocks", []))
    attns = [getattr(block, "attn", None) for block in blocks]
    standard = bool(attns) and all(isinstance(a, torch.nn.MultiheadAttention) for a in attns)
    parts = TextParts(
        tower.token_embedding,
        tower.positional_embedding,
        tower.transformer,
        tower.ln_final,
        getattr(tower, "text_projection", None),
        tower.attn_mask,
        pool,
        eos,
        int(getattr(attns[0], "num_heads", 0)) if standard else None,
    )
    return parts, ""


@dataclass
class Segment:
    """Prompts sharing a prefix of ``prefix`` tokens, laid out as prefix + each rest."""

    prefix: int
    members: list[int]
    width: int


@dataclass
class PackedRow:
    """One row of a batch: segments side by side, at most the row capacity in tokens."""

    segments: list[Segment]
    width: int


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_rows(ids: list[list[int]], capacity: int) -> list[PackedRow]:
    """Group prompts by shared token prefix, then pack the groups into rows.

    Prompts sorted by token ids form runs that share a prefix; each prompt's prefix is
    the longest it shares with a neighbour, never its last token (the EOT it is pooled
    at). A run with one prefix becomes a segment that holds the prefix once (split when
    longer than ``capacity``); segments go into rows best-fit decreasing, so rows are
    nearly full. Rows come out widest first.
    """
    order = sorted(range(len(ids)), key=ids.__getitem__)
    links = [_common(ids[a], ids[b]) for a, b in itertools.pairwise(order)]
    segments: list[Segment] = []
    current: Segment | None = None
    for j, i in enumerate(order):
        before = links[j - 1] if j else 0
        after = links[j] if j < len(links) else 0
        p = min(max(before, after), len(ids[i]) - 1)
        rest = len(ids[i]) - p
        if (
            current is not None
            and current.prefix == p
            and before >= p
            and current.width + rest <= capacity
        ):
            current.members.append(i)
            current.width += rest
        else:
            current = Segment(p, [i], p + rest)
            segments.append(current)
    segments.sort(key=lambda seg: -seg.width)
    rows: list[PackedRow] = []
    free: list[tuple[int, int]] = []  # (room left, row index), sorted: best fit by bisect
    for seg in segments:
        k = bisect.bisect_left(free, (seg.width, -1))
        if k < len(free):
            room, r = free.pop(k)
            rows[r].segments.append(seg)
            rows[r].width += seg.width
            bisect.insort(free, (room - seg.width, r))
        else:
            rows.append(PackedRow([seg], seg.width))
            bisect.insort(free, (capacity - seg.width, len(rows) - 1))
    rows.sort(key=lambda row: -row.width)
    return rows


def project(parts: TextParts, x: torch.Tensor) -> torch.Tensor:
    """Apply the tower's text projection (a matrix or an ``nn.Linear``), if any."""
    import torch

    projection = parts.text_projection
    if isinstance(projection, torch.nn.Module):
        return projection(x)  # type: ignore[no-any-return]
    if projection is not None:
        return x @ projection  # type: ignore[no-any-return]
    return x


def forward_trimmed(parts: TextParts, ids: torch.Tensor) -> torch.Tensor:
    """Features of a batch ``(B, L)`` padded only to its own longest prompt."""
    from open_clip.transformer import text_global_pool

    width = ids.shape[1]
    cast = parts.transformer.get_cast_dtype()
    x = parts.token_embedding(ids).to(cast)
    x = x + parts.positional_embedding[:width].to(cast)
    x = parts.transformer(x, attn_mask=parts.attn_mask[:width, :width])
    x = parts.ln_final(x)
    x = text_global_pool(x, ids, parts.pool_type, eos_token_id=parts.eos_id)
    return project(parts, x)


def encode_packed(
    parts: TextParts,
    ids: list[list[int]],
    *,
    dim: int,
    device: torch.device,
    prompts_per_batch: int,
) -> NDArray[np.float32]:
    """Features of every prompt, computed in shared-prefix packed rows.

    Args:
        parts: The tower; ``parts.heads`` must be set.
        ids: Token ids of each prompt with start and end tokens, within the context.
        dim: The output dimension.
        device: Where the tower lives.
        prompts_per_batch: About how many prompts one forward pass holds.

    Returns:
        ``(len(ids), dim)`` float32, rows in input order.

    Raises:
        ValueError: The tower's blocks are not ``nn.MultiheadAttention``.
    """
    import torch

    if parts.heads is None:
        raise ValueError("packing needs a tower of nn.MultiheadAttention blocks")
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
    capacity = max(PACK_ROW, int(lengths.max()))
    rows = plan_rows(ids, capacity)
    rows_per_batch = max(1, round(prompts_per_batch * float(lengths.mean()) / capacity))
    cast = parts.transformer.get_cast_dtype()
    out = np.empty((len(ids), dim), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(rows), rows_per_batch):
            batch = rows[start : start + rows_per_batch]
            width = max(row.width for row in batch)
            tokens = np.zeros((len(batch), width), dtype=np.int64)
            position = np.zeros((len(batch), width), dtype=np.int64)
            group = np.full((len(batch), width), -2, dtype=np.int64)  # -2: padding
            member = np.full((len(batch), width), -2, dtype=np.int64)
            pick_row: list[int] = []
            pick_col: list[int] = []
            order: list[int] = []
            for r, row in enumerate(batch):
                col = 0
                for g, seg in enumerate(row.segments):
                    p = seg.prefix
                    tokens[r, col : col + p] = ids[seg.members[0]][:p]
                    position[r, col : col + p] = np.arange(p)
                    group[r, col : col + p] = g
                    member[r, col : col + p] = -1  # the shared prefix
                    head = col
                    col += p
                    for k, i in enumerate(seg.members):
                        n = len(ids[i]) - p
                        tokens[r, col : col + n] = ids[i][p:]
                        position[r, col : col + n] = np.arange(p, p + n)
                        group[r, col : col + n] = g
                        member[r, col : col + n] = k
                        pick_row.append(r)
                        first = head if p else col
                        pick_col.append(first if parts.pool_type == "first" else col + n - 1)
                        order.append(i)
                        col += n
            grp = torch.from_numpy(group).to(device)
            mem = torch.from_numpy(member).to(device)
            causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
            same_group = grp[:, None, :] == grp[:, :, None]
            visible = (mem[:, None, :] == -1) | (mem[:, None, :] == mem[:, :, None])
            allowed = causal & same_group & visible
            mask = torch.zeros(allowed.shape, dtype=cast, device=device)
            mask.masked_fill_(~allowed, float("-inf"))
            mask = mask.repeat_interleave(parts.heads, dim=0)
            x = parts.token_embedding(torch.from_numpy(tokens).to(device)).to(cast)
            x = x + parts.positional_embedding[torch.from_numpy(position).to(device)].to(cast)
            x = parts.transformer(x, attn_mask=mask)
            rows_at = torch.tensor(pick_row, device=device)
            cols_at = torch.tensor(pick_col, device=device)
            x = project(parts, parts.ln_final(x[rows_at, cols_at]))
            out[np.asarray(order)] = x.float().cpu().numpy()
    return out
