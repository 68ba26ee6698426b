"""Eq. 4: semantic soft voting, s(x) = sum_i S_i(x) softmax_i(v(x)) over the views that validly see x."""
from __future__ import annotations

import torch

from gnesf_ros.errors import InputError
from gnesf_ros.model.config import VOTE_POOLINGS


def soft_vote(probs: torch.Tensor, vote_logits: torch.Tensor, valid: torch.Tensor, pooling: str = "linear",
              eps: float = 1e-3) -> torch.Tensor:
    """Soft vote of N views' class probabilities.

    pooling "linear" is Eq. 4, a weighted mean of the views' distributions. "log" pools the same weights in
    the log domain, softmax_c(sum_i n w_i log(S_i + eps)) with n the number of valid views: with equal
    scores it is the normalised product of the views' distributions (naive Bayes, as in Kimera-Semantics),
    which keeps what a mean washes out: a view that is wrong but unsure still ranks the true class second.

    Args:
        probs: (N, P, C) per-view class probabilities S_i(x) (rows on the simplex where valid; anything,
            even NaN, where not valid). Probabilities, never logits.
        vote_logits: (N, P) voting scores v_i(x) (Eq. 3).
        valid: (N, P) bool, views that see x (in the image, in front, visible, known pixel).
    Returns:
        (P, C) semantics: sum over valid views of S_i * softmax over valid views of v. Invalid views get
        exactly zero weight (and zero gradient); a point with no valid view gets an all-zero row
        (unknown), with finite gradients.
    """
    if probs.ndim != 3 or vote_logits.shape != probs.shape[:2] or valid.shape != probs.shape[:2]:
        raise InputError(f"soft_vote expects probs (N,P,C), vote_logits (N,P), valid (N,P); got "
                         f"{tuple(probs.shape)}, {tuple(vote_logits.shape)}, {tuple(valid.shape)}")
    valid = valid.bool()
    any_valid = valid.any(dim=0, keepdim=True)  # (1, P)
    logits = vote_logits.masked_fill(~valid, float("-inf"))
    # A column with no valid view would be softmax(-inf, ..., -inf) = NaN: give it finite logits, its
    # weights are zeroed just below anyway.
    logits = torch.where(any_valid, logits, torch.zeros_like(logits))
    weights = torch.softmax(logits, dim=0).masked_fill(~valid, 0.0)  # (N, P)
    probs = probs.masked_fill(~valid.unsqueeze(-1), 0.0)
    if pooling == "linear":
        return (weights.unsqueeze(-1) * probs).sum(dim=0)
    if pooling != "log":
        raise InputError(f"soft_vote pooling must be one of {VOTE_POOLINGS}, got {pooling!r}")
    n_valid = valid.sum(dim=0, keepdim=True).to(weights.dtype)  # (1, P)
    evidence = ((weights * n_valid).unsqueeze(-1) * torch.log(probs + eps)).sum(dim=0)  # (P, C)
    return torch.softmax(evidence, dim=-1) * any_valid[0].unsqueeze(-1).to(evidence.dtype)
