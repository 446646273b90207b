"""Print the summary line of leave-one-renderer-out over the held-out rows' result lines, which
leave_one_renderer_out.sh writes (``OUT/result-NAME.json``, one row each) and then summarises with this script:

    python benchmarks/held_out_summary.py OUT NAME...    # e.g. OUT articulated silhouette photo shaded splat

The lowest pooled AUC, whether every row is at 0.90 or above (the issue's aim), the lowest gain over random weights,
the lowest AUC of spasm against startle, and the lowest pooled AUC of each re-filmed copy where rows have one. A row
with no result line is refused in one line, so a summary never leaves a renderer out unsaid.
"""

import argparse
import json
import sys
from pathlib import Path

AIM = 0.90


def summarise(rows: list[dict]) -> dict:
    """The summary of result lines (each leave_one_renderer_out.sh's row: ``auc``, ``gain``, ``spasm_vs_startle_auc``
    and, when measured, ``auc_rerecorded`` and ``auc_hand``, pooled AUCs in [0, 1])."""
    return {"renderers": len(rows), "auc_min": min(r["auc"] for r in rows), "all_at_or_above_0.90": all(r["auc"] >= AIM for r in rows),
            "gain_min": min(r["gain"] for r in rows), "spasm_vs_startle_min": min((r["spasm_vs_startle_auc"] or 0) for r in rows),
            "auc_rerecorded_min": min((r["auc_rerecorded"] for r in rows if "auc_rerecorded" in r), default=None),
            "auc_hand_min": min((r["auc_hand"] for r in rows if "auc_hand" in r), default=None)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder of the result lines (leave_one_renderer_out.sh's OUT)")
    parser.add_argument("names", nargs="+", help="the held-out renderers to summarise")
    args = parser.parse_args()
    missing = [n for n in args.names if not (args.out / f"result-{n}.json").is_file()]
    if missing:
        print(f"held_out_summary.py: {args.out} has no result line for {', '.join(missing)} (result-NAME.json); run those rows first (HELD_OUT=\"{' '.join(missing)}\")", file=sys.stderr)
        return 2
    print(json.dumps(summarise([json.loads((args.out / f"result-{n}.json").read_text()) for n in args.names])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
