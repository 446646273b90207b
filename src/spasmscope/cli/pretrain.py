"""Commands that pretrain a backbone: ``pretrain supervised`` and ``pretrain mae``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spasmscope.cli.app import BackboneOutOpt, CacheOpt, ConfigOpt, PresetOpt, WorkersOpt, app, finish, report_skipped, workers_or_all
from spasmscope.cli.bars import bars

pretrain_app = typer.Typer(help="Pretrain a Hiera backbone before fine-tuning on a small cohort.", no_args_is_help=True)
app.add_typer(pretrain_app, name="pretrain")


@pretrain_app.command("supervised")
def pretrain_supervised(
    out: BackboneOutOpt,
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps; each draws batch-size new synthetic clips.")] = 2000,
    batch_size: Annotated[int, typer.Option(help="Clips per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear warm-up, cosine decay).")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and of the synthetic stream (disjoint from every `synth --seed` cohort).")] = 0,
    wide_fraction: Annotated[float, typer.Option(help="Share of wide-view (video-EEG) clips in the stream.")] = 0.12,
    night_fraction: Annotated[float, typer.Option(help="Share of close-view clips recorded at night.")] = 0.08,
    weights: Annotated[str, typer.Option(help="Start from these weights instead of random ones (a backbone folder, an official .pth, ...).")] = "none",
    curriculum: Annotated[float, typer.Option(help="Share of the steps over which easy clips fall from all to 20% (0: 20% from the start, to continue a pretrained backbone).")] = 0.5,
    augment: Annotated[float, typer.Option(help="Probability of each of the paper's augmentations (vertical and horizontal flip, quarter turn, colour inversion) on a clip; 0: none.")] = 0.0,
    colour: Annotated[float, typer.Option(help="Probability of changing a clip's brightness, contrast and saturation (0.5-1.5, 0.6-1.4, 0-1.5); 0: never.")] = 0.0,
    zoom: Annotated[float, typer.Option(help="Probability of showing a clip as from a farther camera (shrunk to 0.5-1 of its side, edges mirrored); 0: never.")] = 0.0,
    degrade: Annotated[float, typer.Option(help="Probability of a clip getting sensor noise (0-8 grey levels), a soft lens (0-1.2 px) and an H.264 round trip (CRF 18-40); 0: never.")] = 0.0,
    texture: Annotated[float, typer.Option(help="Probability of refiltering a clip's surfaces by a random convolution (1-7 px kernel mixing the colours, blended in at 0.3-1); 0: never.")] = 0.0,
    invariance: Annotated[float, typer.Option(help="Weight of a pull between the features of one movement drawn by two of the renderers (each batch then holds half as many movements, each drawn twice); 0: off.")] = 0.0,
    movement: Annotated[float, typer.Option(help="Weight of a per-frame target naming the movements under way that are not a spasm (kicks, flails, turns, a parent's hand, camera jolts and zooms, startles, the mimics); 0: off.")] = 0.0,
    startle_rate: Annotated[float, typer.Option(help="Share of clips without a spasm that show a startle reflex (a hard negative); 0: none.")] = 0.0,
    mimic_rate: Annotated[float, typer.Option(help="Share of the other clips without a spasm that show another mimic (sleep myoclonus, hiccups, crying, stretching, feeding, rocked, patted, lifted); 0: none.")] = 0.0,
    spasm_variety: Annotated[float, typer.Option(help="Share of spasm clips whose spasm takes another form (asymmetric, a head nod, a shrug); 0: none.")] = 0.0,
    pipeline_view: Annotated[float, typer.Option(help="Share of close-view clips cut around the infant and held still as the pipeline does to every segment (crop_infant, steady); 0: shown whole.")] = 0.0,
    bold_prints: Annotated[float, typer.Option(help="Share of clips whose sheet under the infant is printed in a colour of its own, not a shade of the sheet's (silhouette, splat and shaded renderers); 0: tone on tone.")] = 0.0,
    renderers: Annotated[str, typer.Option(help="Comma-separated renderers that draw the stream's clips, one at random per clip (articulated, silhouette, photo, shaded, splat; implicit, which no shipped backbone has seen).")] = "articulated",
    workers: Annotated[int, typer.Option(help="Processes drawing clips while the model trains (0: drawn in the training process).", min=0)] = 1,
    threads: Annotated[int | None, typer.Option(help="Torch threads of the training process (default: on a CPU, the cores the workers leave; on a GPU, torch's own).", min=1)] = None,
    val_clips: Annotated[int, typer.Option(help="Clips of the fixed validation stream scored every 100 steps (drawn once, before the first step).")] = 256,
) -> None:
    """Supervised pretraining on labelled synthetic clips drawn on the fly (a new child and recording per clip);
    resumable: run the same command again after an interruption."""
    from spasmscope.model.config import load_config
    from spasmscope.model.folder import check_weights
    from spasmscope.pretrain.recipe import PretrainConfig, check_pairs
    from spasmscope.synth.stream import StreamConfig

    # The recipe, the stream and the weights are checked before torch loads: a bad setting is told in a second.
    recipe = PretrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, curriculum=curriculum, augment_p=augment, colour_p=colour, zoom_p=zoom, degrade_p=degrade, texture_p=texture,
                            invariance=invariance, movement=movement, val_clips=val_clips)  # fmt: skip
    stream = StreamConfig(seed=seed, wide_fraction=wide_fraction, night_fraction=night_fraction, renderers=tuple(r.strip() for r in renderers.split(",") if r.strip()),
                          startle_rate=startle_rate, mimic_rate=mimic_rate, spasm_variety=spasm_variety, pipeline_view=pipeline_view, bold_prints=bold_prints)  # fmt: skip
    check_pairs(recipe, stream.renderers)
    run = load_config(preset, config)
    check_weights(weights)
    from spasmscope.pretrain.supervised import pretrain_supervised as run_pretrain

    with bars() as progress:
        record = run_pretrain(out, run, recipe, stream, weights, workers, progress, threads)
    typer.echo(f"pretrained {steps} steps: validation AUC {record.get('val_auc', float('nan')):.3f}; backbone in {out} (use --weights {out})")


@pretrain_app.command("mae")
def pretrain_mae(
    inputs: Annotated[list[Path], typer.Argument(help="Unlabeled recordings (any length), or one manifest CSV of segments.")],
    out: BackboneOutOpt,
    weights: Annotated[str, typer.Option(help="Start from these weights: none, default (the shipped cpu backbone), a backbone folder, an official .pth.")] = "none",
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Clips per step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, warm-up, cosine decay).")] = 3e-4,
    mask_ratio: Annotated[float, typer.Option(help="Share of mask units hidden from the encoder.")] = 0.75,
    hop: Annotated[float, typer.Option(help="Seconds between windows taken from recordings.")] = 5.0,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, batches and masks.")] = 0,
    cache: CacheOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Masked-autoencoder pretraining on unlabeled recordings (Hiera's own method): adapt a backbone to your
    cameras before fine-tuning; resumable: run the same command again after an interruption."""
    from spasmscope.model.config import load_config
    from spasmscope.model.folder import check_weights
    from spasmscope.pretrain.recipe import MaeConfig

    # Checked before torch loads, as in `pretrain supervised`.
    recipe = MaeConfig(steps=steps, batch_size=batch_size, lr=lr, mask_ratio=mask_ratio, seed=seed)
    run = load_config(preset, config)
    check_weights(weights)
    from spasmscope.pretrain.mae import pretrain_on_recordings

    with bars() as progress:
        record, n_clips, skipped = pretrain_on_recordings(inputs, out, run, recipe, weights, hop, cache, workers_or_all(workers), progress)
    report_skipped(skipped.items)
    typer.echo(f"MAE pretraining on {n_clips} windows: {steps} steps, final reconstruction loss {record.get('loss', float('nan')):.4f}; backbone in {out} (use --weights {out})")
    finish(skipped.items)
