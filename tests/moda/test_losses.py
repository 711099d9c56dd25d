"""The closed-form MODA losses against their pairwise definition."""

from __future__ import annotations

import pytest
import torch

from service.moda.losses import modular_loss, pairwise_modular_loss

TERMS = ("affinity", "dispersion", "compactness")


def assert_same(acts: list[torch.Tensor], y: torch.Tensor, num_classes: int = 10) -> None:
    fast = modular_loss(acts, y, num_classes)
    slow = pairwise_modular_loss(acts, y)
    for term in TERMS:
        assert getattr(fast, term).item() == pytest.approx(getattr(slow, term).item(), abs=1e-5), term


def relu_acts(n: int, widths: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.relu(torch.randn(n, d, generator=g)) for d in widths]


@pytest.mark.parametrize("seed", range(10))
def test_random_batches_match_pairwise(seed: int) -> None:
    g = torch.Generator().manual_seed(100 + seed)
    n = int(torch.randint(2, 64, (1,), generator=g))
    acts = relu_acts(n, (7, 1, 33, 128), seed)
    y = torch.randint(0, 10, (n,), generator=g)
    assert_same(acts, y)


def test_singleton_class_matches_pairwise() -> None:
    acts = relu_acts(9, (5, 6), 1)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 7])  # class 7 has one sample: no same-class pair
    assert_same(acts, y)


def test_single_class_has_no_dispersion() -> None:
    acts = relu_acts(12, (5, 6), 2)
    y = torch.full((12,), 3)
    assert_same(acts, y)
    assert modular_loss(acts, y, 10).dispersion.item() == 0.0
    assert modular_loss(acts, y, 10).affinity.item() > 0.0


def test_all_singletons_have_no_affinity_term() -> None:
    acts = relu_acts(5, (4,), 3)
    y = torch.arange(5)
    assert_same(acts, y)
    assert modular_loss(acts, y, 10).affinity.item() == 0.0


def test_zero_rows_count_as_orthogonal_and_keep_gradients_finite() -> None:
    acts = relu_acts(10, (6, 9), 4)
    acts[0][[1, 4, 7]] = 0.0
    acts[1][:] = 0.0  # a whole layer dead
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    assert_same(acts, y)
    leaves = [a.clone().requires_grad_(True) for a in acts]
    terms = modular_loss(leaves, y, 10)
    (terms.affinity + terms.dispersion + terms.compactness).backward()
    assert all(torch.isfinite(a.grad).all() for a in leaves)


def test_identical_rows_within_class_give_perfect_affinity() -> None:
    row_a, row_b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    t = torch.stack([row_a, row_a * 3, row_b, row_b * 0.5])
    y = torch.tensor([0, 0, 1, 1])
    terms = modular_loss([t], y, 2)
    assert terms.affinity.item() == pytest.approx(0.0, abs=1e-6)  # same class, same direction
    assert terms.dispersion.item() == pytest.approx(0.0, abs=1e-6)  # disjoint neurons across classes
    assert terms.compactness.item() == pytest.approx(t.sum().item() / 12)


def test_terms_are_averaged_over_layers() -> None:
    acts = relu_acts(16, (5, 9), 5)
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(5))
    both = modular_loss(acts, y, 3)
    each = [modular_loss([a], y, 3) for a in acts]
    for term in TERMS:
        expected = (getattr(each[0], term) + getattr(each[1], term)) / 2
        assert getattr(both, term).item() == pytest.approx(expected.item(), abs=1e-6)


def gradients(loss, acts: list[torch.Tensor], y: torch.Tensor, weights: torch.Tensor) -> list[torch.Tensor]:
    leaves = [a.clone().requires_grad_(True) for a in acts]
    terms = loss(leaves, y)
    (weights[0] * terms.affinity + weights[1] * terms.dispersion + weights[2] * terms.compactness).backward()
    return [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("seed", range(6))
def test_gradients_match_autograd_of_the_pairwise_definition(seed: int) -> None:
    g = torch.Generator().manual_seed(200 + seed)
    n = int(torch.randint(2, 48, (1,), generator=g))
    acts = [torch.relu(torch.randn(n, d, generator=g, dtype=torch.float64)) for d in (7, 1, 33, 64)]
    acts[2][0] = 0.0  # a sample that switched a layer off
    y = torch.randint(0, 6, (n,), generator=g)
    weights = torch.rand(3, generator=g, dtype=torch.float64) + 0.1
    fast = gradients(lambda a, y: modular_loss(a, y, 6), acts, y, weights)
    slow = gradients(pairwise_modular_loss, acts, y, weights)
    for a, f, s in zip(acts, fast, slow, strict=True):
        # Where t = 0, |t| has a kink: the pairwise form takes the subgradient 0, the closed form 1
        # (post-ReLU zeros, whose gradient the ReLU masks anyway).
        positive = a > 0
        torch.testing.assert_close(f[positive], s[positive], rtol=1e-9, atol=1e-12)


def test_gradients_pass_a_numerical_check() -> None:
    g = torch.Generator().manual_seed(7)
    acts = [torch.rand(12, d, generator=g, dtype=torch.float64) + 0.1 for d in (3, 5)]  # away from 0's kink
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 3, 3])

    def terms(*leaves: torch.Tensor) -> tuple[torch.Tensor, ...]:
        loss = modular_loss(list(leaves), y, 4)
        return loss.affinity, loss.dispersion, loss.compactness

    assert torch.autograd.gradcheck(terms, [a.requires_grad_(True) for a in acts])
