"""TimmViT: intermediate levels, freezing, gradient checkpointing, dynamic image size."""
import torch

from eov.models.vision import TimmViT

ARCH = dict(img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2, class_token=False)


def test_levels_and_pruning():
    vit = TimmViT(out_indices=(0, 2), **ARCH)
    levels = vit(torch.randn(2, 3, 32, 32))
    assert [tuple(l.shape) for l in levels] == [(2, 16, 32), (2, 16, 32)]
    deep = TimmViT(out_indices=(0,), **ARCH)
    assert len(deep.vit.blocks) == 1          # blocks after the deepest level are dropped


def test_frozen_backbone_gets_no_gradients():
    vit = TimmViT(out_indices=(1,), frozen=True, **ARCH)
    assert not any(p.requires_grad for p in vit.parameters())
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    vit(x)[0].sum().backward()
    assert x.grad is not None and all(p.grad is None for p in vit.parameters())


def test_gradient_checkpointing_gives_the_same_output_and_grads():
    torch.manual_seed(0)
    plain = TimmViT(out_indices=(2,), **ARCH)
    ckpt = TimmViT(out_indices=(2,), grad_checkpointing=True, **ARCH)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    a, b = plain(x)[0], ckpt(x)[0]
    torch.testing.assert_close(a, b)
    a.sum().backward()
    b.sum().backward()
    for (n, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)


def test_dynamic_image_size():
    vit = TimmViT(out_indices=(2,), dynamic_img_size=True, **ARCH)
    assert vit(torch.randn(1, 3, 48, 32))[0].shape == (1, 6 * 4, 32)
