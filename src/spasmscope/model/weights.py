"""Where model weights come from and where they go: checkpoints, official Hiera files, HF folders, the hub.

A spasmscope model folder holds ``model.safetensors`` and ``config.json`` (the resolved ``RunConfig``, version,
seed, data fingerprint), so a model is rebuilt from its folder alone and loading never unpickles code
(METHOD §4). Official ``.pth`` files are read with ``torch.load(weights_only=True)``, which refuses pickled code.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from spasmscope import __version__, atomic
from spasmscope.digests import sha256
from spasmscope.errors import InputError
from spasmscope.model.config import RunConfig
from spasmscope.model.folder import CONFIG_FILE, MODEL_FILE, check_weights, read_model_config
from spasmscope.model.hiera import HEAD_KEYS, OFFICIAL_LICENCE, Hiera, load_official_state, resize_position_embeddings, widen_for_motion

# The Kinetics-400 fine-tuned checkpoint the paper used (official release, checkpoint "mae_k400_ft_k400").
HUB_URL = "https://dl.fbaipublicfiles.com/hiera/hiera_base_16x224.pth"
HUB_FILE = "hiera_base_16x224.pth"
# The backbone shipped inside the package: the cpu preset's Hiera after supervised pretraining on synthetic
# clips (`spasmscope pretrain supervised`; recipe and figures in its MODEL_CARD.md). `--weights default`.
EMBEDDED = "default"
SPASM_HEAD = "spasm"  # a backbone's config.json "head": its one-logit head was trained on spasm labels
KEPT_HEAD = "pretrained spasm head"  # load_backbone's "head" when it kept that head ("new" otherwise)


def embedded_backbone() -> Path:
    """The folder of the shipped ``cpu`` backbone (``model.safetensors``, ``config.json``, ``MODEL_CARD.md``)."""
    from importlib.resources import files

    return Path(str(files("spasmscope") / "backbones" / "cpu-synth"))


def default_weights(cfg: RunConfig) -> str:
    """What a run starts from when ``--weights`` is not given: the shipped backbone for a model of its size (the
    ``cpu`` preset's), random weights otherwise."""
    shipped = embedded_backbone() / MODEL_FILE
    if shipped.is_file() and _shape_settings(read_model_config(shipped.parent)["config"]["model"]) == _shape_settings(cfg.model.as_dict()):
        return EMBEDDED
    return "none"


def hub_cache_dir() -> Path:
    """Where ``--weights hub`` keeps the download: ``$SPASMSCOPE_HOME`` or ``~/.cache/spasmscope``."""
    return Path(os.environ.get("SPASMSCOPE_HOME", Path.home() / ".cache" / "spasmscope"))


def save_model(folder: str | os.PathLike, model: Hiera, cfg: RunConfig, extra: dict[str, Any]) -> None:
    """Write ``folder/model.safetensors`` and ``folder/config.json`` atomically (weights first, so a config
    only ever describes weights that exist)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(folder / MODEL_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "spasmscope": __version__})
    atomic.write_json(folder / CONFIG_FILE, {"spasmscope": __version__, "config": cfg.as_dict(), **extra})


def load_model(folder: str | os.PathLike) -> tuple[Hiera, RunConfig, dict[str, Any]]:
    """Rebuild a trained model from its folder: ``(model in eval mode, config, config.json contents)``."""
    meta = read_model_config(folder)
    cfg = RunConfig.from_dict(meta["config"])
    model = Hiera(cfg.model)
    model.load_state_dict(load_file(str(Path(folder) / MODEL_FILE)))
    return model.eval(), cfg, meta


def load_backbone(model: Hiera, spec: str) -> dict[str, Any]:
    """Initialise ``model``'s backbone from ``spec``. The head is fresh, except from a spasmscope backbone pretrained
    on labelled spasms (``pretrain supervised``, the shipped one): its head already answers "spasm or not" and is
    kept, which on small cohorts is worth more than anything fine-tuning learns (MODEL_CARD.md). Returns a
    description for the run's config (source, file, sha256, licence, head).

    ``spec``: ``none`` (random weights); ``default`` (the backbone shipped for the cpu preset); ``hub`` (the official Kinetics-400 file, downloaded only now);
    an official ``.pth``/``.pt`` file (key ``model_state``); a folder with ``config.json`` + ``model.safetensors``
    (HF format of the official release, or a spasmscope model/backbone); a ``.safetensors`` file.
    """
    if spec == "none":
        return {"source": "none"}
    if spec == EMBEDDED:
        path = embedded_backbone()
        if not (path / MODEL_FILE).is_file():
            raise InputError(path, "the shipped backbone is missing from this installation", "reinstall spasmscope, or pass --weights none")
        if _shape_settings(read_model_config(path)["config"]["model"]) != _shape_settings(model.cfg.as_dict()):
            raise InputError(None, "the shipped backbone is the cpu preset's Hiera and this model is another size", "pass --weights none (random start) or weights of this size")
    elif spec == "hub":
        path = download_official()
    else:
        check_weights(spec)
        path = Path(spec)
    if path.is_dir():
        state = load_file(str(_folder_weights(path)))
    elif path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a pickle with code, a truncated download, not a checkpoint at all
            raise InputError(path, f"cannot be read as a PyTorch checkpoint ({type(e).__name__})", "download it again or give another file") from None
        state = obj.get("model_state", obj) if isinstance(obj, dict) else None
        if not isinstance(state, dict):
            raise InputError(path, "holds no 'model_state' dictionary", "give an official Hiera checkpoint")
    state = resize_position_embeddings(model, widen_for_motion(model, state))
    _check_backbone_keys(model, state, path)
    keep_head = _has_spasm_head(path, model, state)
    load_official_state(model, state, keep_head=keep_head)
    licence = OFFICIAL_LICENCE if spec == "hub" or path.suffix in (".pth", ".pt") or _is_official_folder(path) else ""
    if licence:
        print(f"loaded {path}. {licence}", file=sys.stderr)
    return {"source": str(spec), "file": str(path), "sha256": sha256(_folder_weights(path) if path.is_dir() else path), "licence": licence,
            "head": KEPT_HEAD if keep_head else "new"}  # fmt: skip


def _has_spasm_head(path: Path, model: Hiera, state: dict[str, torch.Tensor]) -> bool:
    """A spasmscope backbone folder whose config says its head was trained on spasm labels, of this model's shape."""
    if not path.is_dir() or _is_official_folder(path) or read_model_config(path).get("head") != SPASM_HEAD:
        return False
    own = model.state_dict()
    return all(k in state and state[k].shape == own[k].shape for k in HEAD_KEYS)


def _shape_settings(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The architecture settings that decide parameter shapes (not checkpointing or dropout rates, nor the motion
    channels, which a pixels-only backbone is widened to: hiera.widen_for_motion, nor whether the pixels are blanked,
    which leaves the kernel's shape as it is, nor each clip's standardising, which has no parameters, nor the clip
    size, to which its position embeddings are resized: hiera.resize_position_embeddings)."""
    loose = ("checkpointing", "drop_path_rate", "head_dropout", "motion", "pixels", "standardise", "input_size")
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in model_cfg.items() if k not in loose}


def _folder_weights(folder: Path) -> Path:
    weights = folder / MODEL_FILE
    if not weights.is_file():
        raise InputError(folder, f"has no {MODEL_FILE}", "give a folder with config.json and model.safetensors (HF format)")
    return weights


def _is_official_folder(folder: Path) -> bool:
    """An HF-format folder of the official release: its config.json is Hiera's constructor arguments."""
    cfg = folder / CONFIG_FILE
    return folder.is_dir() and cfg.is_file() and "spasmscope" not in json.loads(cfg.read_text())


def _check_backbone_keys(model: Hiera, state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse, as one line naming the file, weights of another variant: every backbone key, same shapes."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in HEAD_KEYS}
    have = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("head.")}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    shapes = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if missing or extra or shapes:
        first = (missing or extra or shapes)[0]
        raise InputError(
            path, f"does not fit this model ({len(missing)} missing, {len(extra)} unexpected, {len(shapes)} mis-shaped keys, e.g. {first!r})",
            "use weights of the same Hiera variant as the preset (paper: hiera_base_16x224)",
        )  # fmt: skip


def download_official(url: str = HUB_URL, dest_dir: Path | None = None) -> Path:
    """Download the official Kinetics-400 Hiera-B checkpoint once (only when the user asked with ``--weights
    hub``) and check it: it must load without code and hold the ``model_state`` of Hiera-B. The release publishes no
    checksum, so the check is of the contents; torch.hub writes the file under a temporary name and moves it into
    place whole."""
    dest = (dest_dir or hub_cache_dir()) / HUB_FILE
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url} to {dest} (asked for with --weights hub). {OFFICIAL_LICENCE}", file=sys.stderr)
    with atomic.atomic_path(dest) as tmp:
        try:
            torch.hub.download_url_to_file(url, str(tmp), progress=True)
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise InputError(
                url, f"cannot download the official weights ({getattr(e, 'reason', e)}); this machine looks offline",
                f"download {HUB_FILE} on a machine with internet and pass --weights /path/to/{HUB_FILE}",
            ) from None  # fmt: skip
        obj = torch.load(tmp, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or "model_state" not in obj or "pos_embed_spatial" not in obj["model_state"]:
            raise InputError(url, "the downloaded file is not the official Hiera checkpoint", "check the address or download it by hand")
    return dest


def resolve_weights(spec: str | None, cfg: RunConfig) -> str:
    """``--weights`` as given; when not given, the shipped backbone for a ``cpu``-sized model, and for the paper
    preset a refusal (fine-tuning random Hiera-B would not be the paper's method)."""
    check_weights(spec, cfg.preset)
    return spec if spec is not None else default_weights(cfg)
