"""Our Hiera against the official hiera-transformer 0.1.4: same keys, same shapes, same features."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from spasmscope.model.architecture import VARIANTS, HieraConfig, variant
from spasmscope.model.hiera import Hiera, load_official_state
from spasmscope.model.scores import probability


class _TimmMlp(nn.Module):
    """The timm layer the official code imports (fc1 -> GELU -> fc2), supplied by the test only."""

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features or in_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features or in_features, out_features or in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _TimmDropPath(nn.Identity):
    def __init__(self, p=0.0):
        super().__init__()


@pytest.fixture(scope="module")
def official():
    """The official package, importable without timm (which cannot install beside a CPU torch)."""
    timm, models, layers = types.ModuleType("timm"), types.ModuleType("timm.models"), types.ModuleType("timm.models.layers")
    layers.Mlp, layers.DropPath = _TimmMlp, _TimmDropPath
    timm.models, models.layers = models, layers
    saved = {k: sys.modules.get(k) for k in ("timm", "timm.models", "timm.models.layers")}
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers})
    try:
        import hiera

        yield hiera
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _official_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.head = nn.Identity()  # the official forward is then mean-pool -> norm -> identity
    return model(x)


@pytest.mark.slow
def test_base_16x224_features_match_the_official_implementation(official):
    torch.manual_seed(0)
    ref = official.hiera_base_16x224(pretrained=False).eval()
    ours = Hiera(variant("hiera_base_16x224")).eval()
    load_official_state(ours, ref.state_dict())
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        a, b = ours.forward_features(x), _official_features(ref, x)
    assert a.shape == b.shape == (1, 768)
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_has_the_official_keys_and_shapes(official, name, monkeypatch):
    # Built on the meta device (no memory, no init time); the official code reads its drop-path
    # schedule with .item(), so its linspace is made on the CPU.
    linspace = torch.linspace
    monkeypatch.setattr(torch, "linspace", lambda *a, **k: linspace(*a, **{**k, "device": "cpu"}))
    with torch.device("meta"):
        ref = getattr(official, name)(pretrained=False)
        ours = Hiera(variant(name))
    theirs = {k: tuple(v.shape) for k, v in ref.state_dict().items() if not k.startswith("head.")}
    mine = {k: tuple(v.shape) for k, v in ours.state_dict().items() if not k.startswith("head.")}
    assert mine == theirs
    assert tuple(ours.state_dict()["head.projection.weight"].shape) == (1, ours.num_features)


# A small config exercising every code path (windowed and global attention, three poolings).
SMALL = dict(input_size=(8, 64, 64), embed_dim=16, num_heads=1, stages=(1, 2, 2, 1), q_stride=(1, 2, 2), mask_unit_size=(1, 8, 8),
             patch_kernel=(3, 7, 7), patch_stride=(2, 4, 4), patch_padding=(1, 3, 3), sep_pos_embed=True)  # fmt: skip


def _small_pair(official, seed: int):
    """The official and our small Hiera with the same random weights, and a random clip for them."""
    torch.manual_seed(seed)
    ref = official.Hiera(num_classes=5, **SMALL).eval()
    ours = Hiera(HieraConfig(**SMALL)).eval()
    load_official_state(ours, ref.state_dict())
    return ref, ours, torch.randn(2, 3, 8, 64, 64)


def test_small_model_matches_the_official_code_with_mask_unit_attention_and_pooling(official):
    ref, ours, x = _small_pair(official, seed=1)
    with torch.no_grad():
        assert torch.allclose(ours.forward_features(x), _official_features(ref, x), atol=1e-5, rtol=0)


def test_masked_tokens_match_the_official_mae_path(official):
    # The MAE input path: same kept units, same last-stage tokens as the official forward(x, mask).
    ref, ours, x = _small_pair(official, seed=3)
    units = 4 * 2 * 2
    assert ours.mask_units == (4, 2, 2)
    mask = torch.zeros(2, units, dtype=torch.bool)
    mask[0, [0, 3, 5, 6, 9, 12, 14, 15]] = True
    mask[1, [1, 2, 4, 7, 8, 10, 11, 13]] = True
    with torch.no_grad():
        a, b = ours.forward_tokens(x, mask), ref(x, mask=mask)
    assert a.shape == b.shape == (2, 8, ours.num_features)
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()
    # Kept tokens do not depend on what the masked units show.
    z = x.clone()
    z[0, :, 0:2, 0:32, 32:64] = 9.0  # unit 1 (t 0, h 0, w 1) is masked in sample 0
    with torch.no_grad():
        assert torch.allclose(ours.forward_tokens(z, mask)[0], a[0], atol=1e-6)


def test_head_gives_one_logit_and_loading_checks_keys():
    cfg = HieraConfig(input_size=(8, 64, 64), embed_dim=16, stages=(1, 1, 1, 1))
    model = Hiera(cfg).eval()
    with torch.no_grad():
        logits = model(torch.randn(3, 3, 8, 64, 64))
    assert logits.shape == (3,)
    assert torch.allclose(probability(logits), torch.full((3,), 0.5), atol=1e-3)  # a fresh head starts near 0.5
    other = Hiera(HieraConfig(input_size=(8, 64, 64), embed_dim=32, stages=(1, 1, 1, 1)))
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_official_state(model, other.state_dict())
    extra = dict(model.state_dict(), **{"blocks.99.attn.qkv.weight": torch.zeros(1)})
    with pytest.raises(AssertionError, match="unexpected"):
        load_official_state(model, extra)


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = HieraConfig(input_size=(8, 64, 64), embed_dim=16, stages=(1, 1, 2, 1))
    torch.manual_seed(2)
    plain = Hiera(cfg).train()
    ckpt = Hiera(HieraConfig(**{**cfg.as_dict(), "checkpointing": True})).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 8, 64, 64)
    for m in (plain, ckpt):
        m.zero_grad()
        m(x).sum().backward()
    g1 = torch.cat([p.grad.flatten() for p in plain.parameters()])
    g2 = torch.cat([p.grad.flatten() for p in ckpt.parameters()])
    assert torch.allclose(g1, g2, atol=1e-6)


def test_bad_input_sizes_are_refused():
    with pytest.raises(ValueError, match="input_size"):
        HieraConfig(input_size=(16, 112, 112))  # 28 tokens per side: mask units of 8 do not divide
    with pytest.raises(ValueError, match="this model takes"):
        Hiera(HieraConfig(input_size=(8, 64, 64), embed_dim=16, stages=(1, 1, 1, 1)))(torch.randn(1, 3, 8, 32, 32))


def test_position_embeddings_resize_to_another_clip_size_as_scipy_zooms():
    from scipy import ndimage

    from spasmscope.model.hiera import resize_position_embeddings

    small = Hiera(HieraConfig(input_size=(16, 64, 64), embed_dim=16, stages=(1, 1, 1, 1)))  # 8 x 16 x 16 tokens
    large = Hiera(HieraConfig(input_size=(8, 96, 96), embed_dim=16, stages=(1, 1, 1, 1)))  # 4 x 24 x 24 tokens
    state = small.state_dict()
    resized = resize_position_embeddings(large, state)
    spatial = state["pos_embed_spatial"][0].reshape(16, 16, 16).numpy()  # h, w, channel
    want = ndimage.zoom(spatial, (1.5, 1.5, 1), order=1, grid_mode=True, mode="nearest")
    assert resized["pos_embed_spatial"].shape == (1, 24 * 24, 16)
    assert torch.allclose(resized["pos_embed_spatial"][0], torch.from_numpy(want).reshape(576, 16), atol=1e-6)
    temporal = ndimage.zoom(state["pos_embed_temporal"][0].numpy(), (0.5, 1), order=1, grid_mode=True, mode="nearest")
    assert torch.allclose(resized["pos_embed_temporal"][0], torch.from_numpy(temporal), atol=1e-6)
    # Nothing else depends on the clip size: the large model takes the state whole, and runs.
    assert all(resized[k] is state[k] for k in state if not k.startswith("pos_embed"))
    large.load_state_dict(resized)
    with torch.no_grad():
        assert torch.isfinite(large(torch.randn(1, 3, 8, 96, 96))).all()
    # A state of the model's own size comes back as it was.
    assert all(resize_position_embeddings(small, state)[k] is state[k] for k in state)
