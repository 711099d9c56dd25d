"""The fused ReLU + channel-mean node: the values and gradients of relu(z) and mean(relu(z), (H, W))."""

from __future__ import annotations

import pytest
import torch

from service.moda.nets.base import _ReluChannelMean


def reference(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.relu(z)
    return a, a.mean(dim=(2, 3))


# Small maps take the mean as a matrix-vector product, large ones (and other layouts) torch's mean.
MAPS = {"6x7": (6, 7), "1x1": (1, 1), "9x9": (9, 9), "6x7 channels-last": (6, 7)}


@pytest.mark.parametrize("uses", ["both", "activation", "mean"])
@pytest.mark.parametrize("spatial", MAPS)
def test_values_and_gradients_equal_autograds_own(uses: str, spatial: str) -> None:
    torch.manual_seed(0)
    z = torch.randn(4, 5, *MAPS[spatial])
    if "channels-last" in spatial:
        z = z.to(memory_format=torch.channels_last)
    z[0, 0] = 0.0  # ReLU's kink: both sides must agree on its gradient there too
    upstream_a, upstream_t = torch.randn_like(z), torch.randn(4, 5)
    results = []
    for tap in (_ReluChannelMean.apply, reference):
        leaf = z.clone().requires_grad_()
        a, t = tap(leaf)
        # Only the outputs in use enter the loss, so autograd hands the node None for the other one.
        terms = [(a * upstream_a).sum()] * (uses != "mean") + [(t * upstream_t).sum()] * (uses != "activation")
        torch.stack(terms).sum().backward()
        results.append((a.detach(), t.detach(), leaf.grad))
    (a, t, grad), (a_ref, t_ref, grad_ref) = results
    torch.testing.assert_close(a, a_ref, rtol=0, atol=0)
    torch.testing.assert_close(t, t_ref)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-6, atol=1e-7)


def test_the_upstream_gradient_is_not_modified() -> None:
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    upstream = torch.randn(2, 3, 4, 4)
    kept = upstream.clone()
    a, t = _ReluChannelMean.apply(z)
    torch.autograd.backward([a, t], [upstream, torch.ones(2, 3)])
    assert torch.equal(upstream, kept)
