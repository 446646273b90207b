"""Print how far a pretraining folder got, for the benchmark scripts that resume one (gpu_pretrain.sh,
leave_one_renderer_out.sh):

    python benchmarks/backbone_step.py FOLDER            # the step a finished backbone ended at, or 0
    python benchmarks/backbone_step.py FOLDER --logged   # the last step in its log (pretrain.jsonl), or 0
    python benchmarks/backbone_step.py FOLDER --renderers   # the renderers its last stage drew from

A folder whose backbone is not written (a run stopped between checkpoints, or never started) prints 0, so a script
compares the figure with the steps it asked for and runs (or resumes) when they differ.
"""

import argparse
import json
from pathlib import Path

from spasmscope.model.folder import CONFIG_FILE, MODEL_FILE  # names only: torch is not loaded for a step count


def final_step(folder: Path) -> int:
    """The step recorded in ``folder/config.json`` when the run wrote its backbone; 0 when it has not."""
    config = folder / CONFIG_FILE
    if not (folder / MODEL_FILE).is_file() or not config.is_file():
        return 0
    return int(json.loads(config.read_text()).get("final", {}).get("step", 0))


def logged_step(folder: Path) -> int:
    """The step of the last line of ``folder/pretrain.jsonl`` (one line per checkpoint); 0 when there is none."""
    log = folder / "pretrain.jsonl"
    lines = log.read_text().splitlines() if log.is_file() else []
    return int(json.loads(lines[-1])["step"]) if lines else 0


def renderers_seen(folder: Path) -> list[str]:
    """The renderers ``folder``'s last pretraining stage drew from, as its ``config.json`` records them; a backbone
    pretrained before the family existed records none and drew the articulated figure alone; no config, none. Earlier
    stages are in the model card: ``start_weights`` may name a folder whose contents have since changed."""
    config = folder / CONFIG_FILE
    if not config.is_file():
        return []
    return list(json.loads(config.read_text()).get("stream", {}).get("renderers", ["articulated"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--logged", action="store_true", help="the last logged step instead of the finished one")
    parser.add_argument("--renderers", action="store_true", help="the renderers its last stage drew from")
    args = parser.parse_args()
    if args.renderers:
        print(" ".join(renderers_seen(args.folder)))
    else:
        print(logged_step(args.folder) if args.logged else final_step(args.folder))


if __name__ == "__main__":
    main()
