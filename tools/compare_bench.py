"""Two mapper-benchmark result files side by side: the headline figures per geometry source and the ratio B / A.

    python tools/compare_bench.py bench/results.json bench/results_cuda.json   # CPU against GPU
    python tools/compare_bench.py old.json new.json                            # before / after a change

Prints a markdown table: frames/s, keyframes/s, render seconds (320x240, 640x480), frame-to-map latency,
peak RSS (and GPU memory), 3D mIoU for each geometry source either file measured, and bayes_fusion's. Reads
any schema of results (gnesf_ros/eval/bench_report.py upgrades older files). Exit code 2 for an unreadable file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gnesf_ros.eval.bench_report import FIGURES, GEOMETRIES, fmt_value, headline, upgrade


def ratio_text(a: float | None, b: float | None) -> str:
    """"B / A" as "1.23x"; "-" where either is missing or A is 0."""
    return "-" if a is None or b is None or a == 0 else f"{b / a:.2f}x"


def _describe(name: str, path: Path, res: dict[str, Any]) -> str:
    m = res["machine"]
    device = res.get("device", "cpu")
    where = f"{device} ({m.get('device_name') or m.get('cpu')})"
    if device == "cpu":
        where += f", {m.get('cores')} cores, {m.get('torch_threads')} torch thread(s)"
    weights = " UNTRAINED" if res["model"].get("untrained") else ""
    return f"- {name}: `{path}`: {res['date']}, {where}, {res['main']['frames']} frames{weights}"


def compare_table(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Markdown rows: one per (geometry source or bayes_fusion, figure) that either file has."""
    ha, hb = headline(a), headline(b)
    lines = ["| geometry | figure | A | B | B / A |", "|---|---|---|---|---|"]
    for source in [*GEOMETRIES, "bayes_fusion"]:
        if source not in ha and source not in hb:
            continue
        fa, fb = ha.get(source, {}), hb.get(source, {})
        for figure, (label, decimals, _better) in FIGURES.items():
            va, vb = fa.get(figure), fb.get(figure)
            if va is None and vb is None:
                continue
            lines.append(f"| {source} | {label} | {fmt_value(va, decimals)} | {fmt_value(vb, decimals)} | "
                         f"{ratio_text(va, vb)} |")
    return lines


def compare(path_a: Path, path_b: Path) -> str:
    """The whole comparison as markdown."""
    a, b = (upgrade(json.loads(p.read_text())) for p in (path_a, path_b))
    higher = ", ".join(label for label, _d, better in FIGURES.values() if better == "higher")
    return "\n".join([_describe("A", path_a, a), _describe("B", path_b, b), "", *compare_table(a, b), "",
                      f"B / A above 1 is better for {higher}; below 1 is better for the seconds and MB."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="results file A (the reference)")
    parser.add_argument("b", type=Path, help="results file B (ratios are B / A)")
    args = parser.parse_args(argv)
    try:
        print(compare(args.a, args.b))
    except (OSError, ValueError, KeyError) as exc:
        print(f"compare_bench: cannot read {args.a} / {args.b}: {exc!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
