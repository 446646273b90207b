"""Presets and TOML config, weights in and out, and the training loop on real (tiny) Hiera models."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from spasmscope.data.preprocess import ClipConfig, normalise
from spasmscope.errors import InputError
from spasmscope.model.architecture import HieraConfig
from spasmscope.model.config import RunConfig, TrainConfig, load_config, preset
from spasmscope.model.hiera import Hiera
from spasmscope.model.inference import predict, score_clips
from spasmscope.model.weights import download_official, load_backbone, load_model, save_model
from spasmscope.study.train import fit, learning_rate, set_trainable

TINY = HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))
TINY_RUN = RunConfig("cpu", TINY, ClipConfig(frames=8, size=32), TrainConfig(epochs=2, batch_size=4, lr=1e-3, augment=False))


def _toy(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Clips whose label is visible: label-1 clips have a bright square flashing in the middle frames."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    clips = []
    for y in labels:
        c = rng.integers(0, 120, (1, 8, 32, 32, 3), dtype=np.uint8)
        if y:
            c[0, 3:6, 8:24, 8:24] = 255
        clips.append(c)
    return clips, labels


def test_presets_build_models_their_clips_fit():
    for name in ("cpu", "paper"):
        cfg = preset(name)
        assert tuple(cfg.model.input_size) == (cfg.clip.frames, cfg.clip.size, cfg.clip.size)
    cpu = Hiera(preset("cpu").model)
    assert sum(p.numel() for p in cpu.parameters()) < 3_000_000
    assert cpu(torch.zeros(2, 3, 16, 64, 64)).shape == (2,)
    assert preset("paper").train == TrainConfig()  # the paper's recipe: 15 epochs, batch 4, lr 1e-4 x 0.75 / 10 epochs
    with pytest.raises(ValueError, match="unknown preset"):
        preset("gpu")


def test_toml_config_changes_the_preset_and_refuses_bad_keys(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[train]\nepochs = 3\noptimizer = "adamw"\n[model]\nembed_dim = 16\n')
    cfg = load_config("cpu", f, lr=0.01, seed=None)
    assert (cfg.train.epochs, cfg.train.optimizer, cfg.train.lr, cfg.model.embed_dim) == (3, "adamw", 0.01, 16)
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.as_dict()))) == cfg
    f.write_text("[train]\nepoch = 3\n")
    with pytest.raises(InputError, match=r"run.toml: \[train\] has unknown key\(s\) epoch; known keys"):
        load_config("cpu", f)
    f.write_text('[train]\noptimizer = "lion"\n')
    with pytest.raises(InputError, match="optimizer='lion'; choose one of adam, adamw, sgd"):
        load_config("cpu", f)
    f.write_text("[clip]\nsize = 96\n")
    with pytest.raises(InputError, match="clips are 16x96x96 but the model takes 16x64x64"):
        load_config("cpu", f)
    f.write_text("[train\n")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_config("cpu", f)


def test_learning_rate_steps_as_the_paper():
    cfg = TrainConfig()
    assert [learning_rate(cfg, e) for e in (0, 9, 10, 14)] == pytest.approx([1e-4, 1e-4, 0.75e-4, 0.75e-4])
    assert learning_rate(replace(cfg, lr_step=2), 5) == pytest.approx(1e-4 * 0.75**2)


def test_fit_learns_a_visible_pattern_and_is_seeded(tmp_path):
    clips, labels = _toy(32)
    cfg = replace(TINY_RUN.train, epochs=6)
    torch.manual_seed(0)
    model = Hiera(TINY)
    before = predict(model, clips.__getitem__, len(clips))
    records = fit(model, clips.__getitem__, labels, cfg, log=tmp_path / "log.jsonl")
    after = predict(model, clips.__getitem__, len(clips))
    assert len(records) == 6 and records[-1]["loss"] < records[0]["loss"]
    assert [json.loads(line)["epoch"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == list(range(1, 7))
    gap = lambda s: s[labels == 1].mean() - s[labels == 0].mean()  # noqa: E731
    assert gap(after) > 0.3 > abs(gap(before))
    torch.manual_seed(0)
    again = Hiera(TINY)
    fit(again, clips.__getitem__, labels, cfg)
    assert np.array_equal(predict(again, clips.__getitem__, len(clips)), after)  # same seed, same model


def test_fit_stops_on_a_non_finite_loss():
    clips, labels = _toy(8)
    model = Hiera(TINY)
    with torch.no_grad():
        model.head.projection.bias.fill_(float("nan"))
    with pytest.raises(InputError, match=r"training loss became nan at epoch 1, step 1; lower the learning rate"):
        fit(model, clips.__getitem__, labels, TINY_RUN.train)


def test_freeze_options_leave_only_the_intended_parameters_trainable():
    model = Hiera(TINY)
    set_trainable(model, "backbone")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"head.projection.weight", "head.projection.bias"}
    set_trainable(model, "early")
    frozen = {n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("blocks.") else "") for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"patch_embed", "pos_embed_spatial", "pos_embed_temporal", "blocks.0", "blocks.1"}


def test_test_flips_average_the_four_flipped_views_and_ignore_a_flip_of_the_input():
    torch.manual_seed(0)
    model = Hiera(TINY).eval()
    clips = np.concatenate(_toy(3, seed=4)[0])  # [3, T, S, S, 3]
    plain = score_clips(model, clips)
    with torch.no_grad():
        direct = torch.sigmoid(model(normalise(clips))).flatten().numpy()
    np.testing.assert_allclose(plain, direct, rtol=1e-6)
    views = [clips, clips[:, :, :, ::-1], clips[:, :, ::-1], clips[:, :, ::-1, ::-1]]  # as is, left-right, upside down, both
    mean = np.mean([score_clips(model, np.ascontiguousarray(v)) for v in views], axis=0)
    flips = score_clips(model, clips, flips=True)
    np.testing.assert_allclose(flips, mean, rtol=1e-5)
    assert not np.allclose(flips, plain)  # random weights are not symmetric: the views do differ
    # The four views are closed under flipping, so a flipped recording gets the same score.
    np.testing.assert_allclose(score_clips(model, np.ascontiguousarray(clips[:, :, :, ::-1]), flips=True), flips, rtol=1e-5)
    # predict passes the setting through and keeps one score per row.
    rows = [clips[i : i + 1] for i in range(3)]
    np.testing.assert_allclose(predict(model, rows.__getitem__, 3, flips=True), flips, rtol=1e-5)


def test_saved_model_reloads_to_the_same_scores(tmp_path):
    clips, _ = _toy(6)
    model = Hiera(TINY).eval()
    save_model(tmp_path / "m", model, TINY_RUN, {"seed": 0})
    loaded, cfg, meta = load_model(tmp_path / "m")
    assert cfg == TINY_RUN and meta["seed"] == 0
    assert np.array_equal(predict(loaded, clips.__getitem__, 6), predict(model, clips.__getitem__, 6))
    with pytest.raises(InputError, match="is not a spasmscope model"):
        load_model(tmp_path)


def _official_state(cfg: HieraConfig) -> dict[str, torch.Tensor]:
    """An official-format state: our backbone keys plus the 400-class Kinetics head of the official release."""
    state = {k: v for k, v in Hiera(cfg).state_dict().items() if not k.startswith("head.")}
    state["head.projection.weight"] = torch.randn(400, state["norm.weight"].shape[0])
    state["head.projection.bias"] = torch.randn(400)
    return state


def test_backbone_loads_from_official_file_and_hf_folder_with_a_fresh_head(tmp_path, capsys):
    state = _official_state(TINY)
    torch.save({"model_state": state}, tmp_path / "official.pth")
    model = Hiera(TINY)
    info = load_backbone(model, str(tmp_path / "official.pth"))
    assert torch.equal(model.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])
    assert model.head.projection.weight.shape == (1, 128) and torch.all(model.head.projection.bias == 0)
    assert "CC BY-NC 4.0" in info["licence"] and "CC BY-NC 4.0" in capsys.readouterr().err
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"embed_dim": 16, "num_heads": 1, "stages": [1, 1, 1, 1], "input_size": [8, 32, 32]}))
    other = Hiera(TINY)
    load_backbone(other, str(folder))
    assert torch.equal(other.patch_embed.proj.weight, state["patch_embed.proj.weight"])
    assert load_backbone(Hiera(TINY), "none") == {"source": "none"}


def test_weights_of_another_variant_or_no_checkpoint_are_refused_in_one_line(tmp_path):
    torch.save({"model_state": _official_state(replace(TINY, embed_dim=24))}, tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"other.pth: does not fit this model \(0 missing, 0 unexpected, \d+ mis-shaped"):
        load_backbone(Hiera(TINY), str(tmp_path / "other.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pth: cannot be read as a PyTorch checkpoint"):
        load_backbone(Hiera(TINY), str(tmp_path / "junk.pth"))
    with pytest.raises(InputError, match="weights not found"):
        load_backbone(Hiera(TINY), str(tmp_path / "missing.pth"))


def test_hub_download_says_clearly_when_offline(tmp_path):
    # Port 9 (discard) on the loopback refuses connections: the same path as a machine without internet.
    with pytest.raises(InputError, match="cannot download the official weights .*looks offline; download hiera_base_16x224.pth on a machine"):
        download_official("http://127.0.0.1:9/hiera_base_16x224.pth", dest_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_weight_decay_leaves_norms_biases_and_position_embeddings_alone():
    from spasmscope.model import loop

    torch.manual_seed(0)
    model = Hiera(TINY)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(loop.param_groups(model.named_parameters(), 0.1), lr=0.5)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # zero gradients: only weight decay moves a parameter, by the factor 1 - lr * decay
    after = dict(model.named_parameters())
    shrunk = {n for n in before if not torch.equal(before[n], after[n])}
    assert {"pos_embed_spatial", "pos_embed_temporal", "norm.weight", "norm.bias", "head.projection.bias"}.isdisjoint(shrunk)
    assert not any(".bias" in n or "norm" in n for n in shrunk)
    assert {"blocks.0.attn.qkv.weight", "head.projection.weight", "patch_embed.proj.weight"} <= shrunk
    torch.testing.assert_close(after["blocks.0.attn.qkv.weight"].detach(), before["blocks.0.attn.qkv.weight"] * (1 - 0.5 * 0.1))


def test_a_setting_out_of_range_is_a_value_error_with_its_fix():
    from spasmscope.errors import SettingError

    with pytest.raises(SettingError) as caught:
        TrainConfig(lr=0)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, InputError)
    assert (caught.value.problem, caught.value.fix) == ("lr=0", "the learning rate must be positive")
    assert str(caught.value) == "lr=0; the learning rate must be positive"
