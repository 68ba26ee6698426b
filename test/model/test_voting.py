"""Eq. 4 soft voting."""
import torch

from gnesf_ros.model.voting import soft_vote


def _probs(N, P, C, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(N, P, C, generator=g), dim=-1)


def test_equal_logits_give_mean_of_valid_views():
    probs = _probs(4, 5, 3)
    valid = torch.tensor([[1, 1, 0, 1, 1], [1, 0, 0, 1, 0], [0, 1, 1, 1, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    out = soft_vote(probs, torch.zeros(4, 5), valid)
    for p in range(5):
        expected = probs[valid[:, p], p].mean(dim=0)
        assert torch.allclose(out[p], expected, atol=1e-6)


def test_outputs_on_simplex():
    probs = _probs(5, 30, 7)
    logits = torch.randn(5, 30) * 3
    valid = torch.rand(5, 30) > 0.3
    valid[0] = True
    out = soft_vote(probs, logits, valid)
    assert (out >= 0).all()
    assert torch.allclose(out.sum(-1), torch.ones(30), atol=1e-5)


def test_invalid_views_exact_zero_weight_and_gradient():
    probs = _probs(3, 4, 2).requires_grad_(True)
    logits = torch.randn(3, 4, requires_grad=True)
    valid = torch.tensor([[1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 0, 1]], dtype=torch.bool)
    out = soft_vote(probs, logits, valid)
    # Changing an invalid view's inputs (even to huge values) changes nothing.
    logits2 = logits.detach().clone()
    logits2[~valid] = 1e6
    probs2 = probs.detach().clone()
    probs2[~valid] = float("nan")
    assert torch.equal(soft_vote(probs2, logits2, valid), out.detach())
    (out * torch.randn_like(out)).sum().backward()
    assert (logits.grad[~valid] == 0).all()
    assert (probs.grad[~valid] == 0).all()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(probs.grad).all()


def test_all_invalid_point_is_unknown_without_nan_gradients():
    probs = _probs(3, 2, 4).requires_grad_(True)
    logits = torch.randn(3, 2, requires_grad=True)
    valid = torch.tensor([[0, 1], [0, 0], [0, 1]], dtype=torch.bool)
    out = soft_vote(probs, logits, valid)
    assert torch.equal(out[0], torch.zeros(4))
    assert torch.allclose(out[1].sum(), torch.tensor(1.0))
    out.sum().backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(probs.grad).all()
    assert (logits.grad[:, 0] == 0).all()


def test_larger_logit_pulls_towards_its_view():
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    out = soft_vote(probs, torch.tensor([[2.0], [0.0]]), torch.ones(2, 1, dtype=torch.bool))
    assert torch.allclose(out[0, 0], torch.sigmoid(torch.tensor(2.0)))


def test_log_pooling_with_equal_scores_is_the_normalised_product():
    """Two views of 3 classes, hand-computed: (0.6, 0.3, 0.1) x (0.2, 0.7, 0.1) -> (0.12, 0.21, 0.01) / 0.34."""
    probs = torch.tensor([[[0.6, 0.3, 0.1]], [[0.2, 0.7, 0.1]]])
    out = soft_vote(probs, torch.zeros(2, 1), torch.ones(2, 1, dtype=torch.bool), pooling="log", eps=1e-9)
    assert torch.allclose(out[0], torch.tensor([0.12, 0.21, 0.01]) / 0.34, atol=1e-6)
    # four views wrong but unsure (0.65 / 0.35), one right and sure (0.05 / 0.95): the mean says class 0
    # (0.53), the product class 1 (4 log(0.65 / 0.35) = 2.48 < log(0.95 / 0.05) = 2.94)
    probs = torch.tensor([[[0.65, 0.35]]] * 4 + [[[0.05, 0.95]]])
    args = (torch.zeros(5, 1), torch.ones(5, 1, dtype=torch.bool))
    assert int(soft_vote(probs, *args, pooling="linear")[0].argmax()) == 0
    assert int(soft_vote(probs, *args, pooling="log", eps=1e-9)[0].argmax()) == 1


def test_log_pooling_weights_scale_each_views_evidence_and_skip_invalid_views():
    probs = _probs(3, 4, 5, seed=2)
    valid = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    logits = torch.tensor([[0.0, 1.0, 5.0, 0.0], [2.0, 0.0, -1.0, 0.0], [-1.0, 0.5, 0.0, 0.0]])
    out = soft_vote(probs, logits, valid, pooling="log", eps=1e-3)
    for p in range(3):
        v = valid[:, p]
        w = torch.softmax(logits[v, p], dim=0) * v.sum()
        expected = torch.softmax((w[:, None] * torch.log(probs[v, p] + 1e-3)).sum(0), dim=0)
        assert torch.allclose(out[p], expected, atol=1e-6)
    assert torch.equal(out[3], torch.zeros(5))  # no valid view: unknown
    probs.requires_grad_(True)
    soft_vote(probs, logits, valid, pooling="log").sum().backward()
    assert torch.isfinite(probs.grad).all() and torch.equal(probs.grad[:, 3], torch.zeros(3, 5))


def test_unknown_pooling_is_an_error():
    import pytest

    from gnesf_ros.errors import InputError
    with pytest.raises(InputError, match="pooling"):
        soft_vote(_probs(2, 3, 4), torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), pooling="max")
