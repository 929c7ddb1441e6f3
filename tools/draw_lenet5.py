"""Draw imgs/lenet-5.png: LeNet-5's layers as in LeCun et al. (1998), Fig. 2.

    python tools/draw_lenet5.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "imgs" / "lenet-5.png"

# (label, maps, size, layer kind); positions follow from the sizes and GAP
LAYERS = [
    ("INPUT\n32x32", 1, 32, "input"),
    ("C1: feature maps\n6@28x28", 6, 28, "conv"),
    ("S2: f. maps\n6@14x14", 6, 14, "pool"),
    ("C3: f. maps\n16@10x10", 16, 10, "conv"),
    ("S4: f. maps\n16@5x5", 16, 5, "pool"),
]
VECTORS = [("C5: layer\n120", 120), ("F6: layer\n84", 84), ("OUTPUT\n10", 10)]
GAP = 1.0
ARROWS = ["Convolutions\n5x5", "Subsampling\n2x2", "Convolutions\n5x5", "Subsampling\n2x2",
          "Convolution\n5x5", "Full\nconnection", "Full\nconnection"]
COLOURS = {"input": "#f2f2f2", "conv": "#cfe3f7", "pool": "#f9e0c7", "vector": "#d9f0d3"}


def main():
    fig, ax = plt.subplots(figsize=(13, 4.2))
    scale = 1.6 / 32  # a 32x32 map is 1.6 units tall
    right_edges, centres, x = [], [], 0.0
    for label, maps, size, kind in LAYERS:
        side = size * scale
        shown = min(maps, 6)
        step = 0.09 if maps > 1 else 0
        for k in range(shown):
            ax.add_patch(Rectangle((x + k * step, 1.9 - side / 2 - k * step), side, side,
                                   facecolor=COLOURS[kind], edgecolor="#333333", linewidth=0.8))
        ax.text(x + (shown - 1) * step / 2 + side / 2, 3.05, label, ha="center", va="bottom", fontsize=9)
        right_edges.append(x + (shown - 1) * step + side)
        centres.append(x)
        x = right_edges[-1] + GAP
    for label, units in VECTORS:
        height = 0.4 + 1.4 * units / 120
        ax.add_patch(Rectangle((x, 1.9 - height / 2), 0.22, height, facecolor=COLOURS["vector"],
                               edgecolor="#333333", linewidth=0.8))
        ax.text(x + 0.11, 3.05, label, ha="center", va="bottom", fontsize=9)
        right_edges.append(x + 0.22)
        centres.append(x)
        x = right_edges[-1] + GAP
    for k, label in enumerate(ARROWS):
        start, end = right_edges[k] + 0.05, centres[k + 1] - 0.05
        ax.add_patch(FancyArrowPatch((start, 0.55), (end, 0.55), arrowstyle="-|>", mutation_scale=12, color="#555555"))
        ax.text((start + end) / 2, 0.45, label, ha="center", va="top", fontsize=8, color="#333333")
    ax.set_xlim(-0.2, x - GAP + 0.3)
    ax.set_ylim(-0.3, 3.7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("LeNet-5 (after LeCun, Bottou, Bengio and Haffner, 1998, Fig. 2)", fontsize=11)
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=120, bbox_inches="tight", facecolor="white")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
