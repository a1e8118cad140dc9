"""LegoNet training: the straight-through combination, end-to-end training, conversion to LegoBlock."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from igcsearch.families.lego import Lego
from igcsearch.families.lego_block import LegoBlock
from igcsearch.handoff.lego_train import (
    LegoTrainBlock,
    freeze,
    lego_blocks,
    make_trainable,
    one_hot_ste,
    to_inference,
    usage_penalty,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small tensors time steadier on one thread


def test_straight_through_estimator() -> None:
    proxy = torch.tensor([[0.1, 0.7, -0.2], [0.5, 0.4, 0.3]], requires_grad=True)
    onehot = one_hot_ste(proxy)
    assert torch.equal(onehot, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    upstream = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]])
    (onehot * upstream).sum().backward()
    assert torch.equal(proxy.grad, upstream)  # the gradient of the one-hot matrix, copied unchanged


def test_trainable_form_computes_the_blocks_function() -> None:
    torch.manual_seed(0)
    cfg = Lego(in_channels=8, out_channels=12, o=2, m=3, stride=2)
    block = LegoBlock(cfg, seed=3).eval()
    trainable = LegoTrainBlock.from_block(block).eval()
    assert torch.equal(trainable.choice, block.choice)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        assert torch.allclose(trainable(x), block(x), atol=1e-5)
        assert torch.allclose(trainable.to_block()(x), block(x), atol=1e-6)
    # the composed kernel: output i, split j holds alpha(i, j) · B[pi(i, j)]
    kernel = trainable.kernel().detach()
    i, j = 5, 1
    p = int(block.choice[i, j])
    assert torch.equal(kernel[i, 4 * j : 4 * j + 4], block.alpha[i, j].detach() * block.lego[p].detach())


def synthetic(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """64 images 8x8, 4 classes: horizontal or vertical stripes, checkerboard, flat."""
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, 4, (n,), generator=gen)
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    patterns = torch.stack([(i // 2) % 2, (j // 2) % 2, (i // 2 + j // 2) % 2, torch.ones(8, 8)]).float()
    x = patterns[y].unsqueeze(1).expand(n, 3, 8, 8) * 2 + 0.3 * torch.randn(n, 3, 8, 8, generator=gen)
    return x, y


def test_train_tiny_lego_network_and_convert() -> None:
    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # tiny gradients late in training are denormal floats: slow on CPU
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        LegoBlock(Lego(in_channels=8, out_channels=16, o=2, m=4)),
        LegoBlock(Lego(in_channels=16, out_channels=16, o=2, m=4, stride=2)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )  # fmt: skip
    assert make_trainable(net) == 2
    x, y = synthetic()
    start = [b.choice.clone() for b in lego_blocks(net)]
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for step in range(30):
        if step == 20:
            assert freeze(net) == 2
            frozen = [b.choice.clone() for b in lego_blocks(net)]
        loss = F.cross_entropy(net(x), y) + 0.01 * usage_penalty(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0]
    assert any(not torch.equal(a, b.choice) for a, b in zip(start, lego_blocks(net), strict=True))  # π was learned
    assert all(torch.equal(a, b.choice) for a, b in zip(frozen, lego_blocks(net), strict=True))  # and then frozen
    net.eval()
    with torch.no_grad():
        expected = net(x)
    trained_choice = [b.choice.clone() for b in lego_blocks(net)]
    assert to_inference(net) == 2
    blocks = [m for m in net.modules() if isinstance(m, LegoBlock)]
    assert len(blocks) == 2 and not lego_blocks(net)
    for block, choice in zip(blocks, trained_choice, strict=True):
        assert torch.equal(block.choice, choice)
        assert not any(n == "proxy" for n, _ in block.named_parameters())
    with torch.no_grad():
        assert torch.allclose(net(x), expected, atol=1e-5)
    assert float(F.cross_entropy(net(x), y)) < 0.3 * losses[0]
    torch.set_flush_denormal(False)


def test_usage_penalty_is_zero_when_uniform() -> None:
    block = LegoTrainBlock(Lego(in_channels=4, out_channels=4, o=1, m=2))
    with torch.no_grad():
        block.proxy.zero_()
    assert float(usage_penalty(nn.Sequential(block))) == 0.0
    with torch.no_grad():
        block.proxy[..., 0] = 5.0
    assert float(usage_penalty(nn.Sequential(block))) > 0.9
    block.freeze()
    assert float(usage_penalty(nn.Sequential(block))) == 0.0  # frozen layers no longer count


def test_documented_import_path() -> None:
    """`igcsearch.lego_train` (the README's path) gives the objects of igcsearch.handoff.lego_train."""
    import igcsearch.handoff.lego_train as real
    import igcsearch.lego_train as documented

    assert documented.__all__
    for name in documented.__all__:
        assert getattr(documented, name) is getattr(real, name), name
    public = {
        n for n, v in vars(real).items() if not n.startswith("_") and getattr(v, "__module__", None) == real.__name__
    }
    assert public == set(documented.__all__)
