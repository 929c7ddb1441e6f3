"""What the notebook draws and shows: digits on scatter plots, mosaics in latent coordinates, progress bars that are
saved finished, and the graded code rendered from the modules."""

import inspect
import re

import numpy as np
import torch


def label_centroids(ax, codes, labels, pad=3.0):
    """Write each digit at the median of its codes (N, 2) on a scatter plot, in black on a white outline, so every
    cluster can be named without telling the colormap's colours apart. Returns the text artists.

    Call it once the axes' limits and the figure's size are final: labels that would overlap are pushed apart in
    screen space (a few pixels of ``pad`` between them) and joined to their median by a thin line; digits whose
    medians coincide (a collapsed latent space) share one label."""
    import matplotlib.patheffects as effects

    digits = np.unique(labels)
    anchors = np.array([np.median(codes[labels == digit, :2], axis=0) for digit in digits])
    screen = ax.transData.transform(anchors)
    groups = []  # digits whose medians lie within a pixel of each other get one label
    for k, point in enumerate(screen):
        for group in groups:
            if np.abs(screen[group[0]] - point).max() < 1.0:
                group.append(k)
                break
        else:
            groups.append([k])
    names = [", ".join(str(int(digits[k])) for k in group) if len(group) < 10 else "all ten digits" for group in groups]
    outline = [effects.withStroke(linewidth=3, foreground="white")]
    texts = [ax.text(*anchors[group[0]], name, fontsize=13, fontweight="bold", ha="center", va="center",
                     color="black", path_effects=outline, zorder=5) for group, name in zip(groups, names)]
    start = np.array([screen[group[0]] for group in groups])
    placed = _repel(ax, texts, start.copy(), pad)
    for text, anchor, position in zip(texts, start, placed):
        text.set_position(ax.transData.inverted().transform(position))
        if np.hypot(*(position - anchor)) > 4:
            ax.plot(*ax.transData.inverted().transform(np.array([anchor, position])).T, color="black", linewidth=0.8,
                    zorder=4)
    return texts


def _repel(ax, texts, positions, pad, rounds=500):
    """Screen positions (pixels) for ``texts`` near ``positions`` such that no two boxes (plus ``pad``) overlap: each
    overlapping pair is pushed apart along the direction in which it overlaps least."""
    renderer = ax.figure.canvas.get_renderer()
    sizes = np.array([[box.width, box.height] for box in (t.get_window_extent(renderer) for t in texts)]) + 2 * pad
    for _ in range(rounds):
        moved = False
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                delta = positions[j] - positions[i]
                overlap = (sizes[i] + sizes[j]) / 2 - np.abs(delta)
                if (overlap > 0).all():
                    axis = int(np.argmin(overlap))
                    direction = np.sign(delta[axis]) or (1.0 if i % 2 else -1.0)
                    positions[i, axis] -= direction * (overlap[axis] / 2 + 0.5)
                    positions[j, axis] += direction * (overlap[axis] / 2 + 0.5)
                    moved = True
        if not moved:
            break
    return positions


def _tick_labels(values):
    span = np.max(np.abs(values))
    decimals = 2 if span < 10 else 1 if span < 100 else 0
    return [f"{v:.{decimals}f}" for v in values]


def show_mosaic(images, z1, z2, title=None, ax=None, size=7):
    """Draw decoded latent points as one mosaic (one ``imshow``, not one subplot per image), in latent coordinates.

    ``images``: (len(z2) * len(z1), 1, H, W), in the order of ``np.meshgrid(z1, z2)`` flattened (row i
    decodes z2[i], column j decodes z1[j]). Drawn like a scatter plot: z1 grows to the right, z2 upwards,
    and the ticks give the sampled latent values. Returns the figure.
    """
    from torchvision.utils import make_grid
    import matplotlib.pyplot as plt

    n1, n2 = len(z1), len(z2)
    if len(images) != n1 * n2:
        raise ValueError(f"show_mosaic() needs one image per (z1, z2) pair: {n2} x {n1} = {n1 * n2}; "
                         f"received {len(images)} images.")
    upwards = torch.as_tensor(images).reshape(n2, n1, *images.shape[1:]).flip(0).reshape(images.shape)
    grid = make_grid(upwards, nrow=n1, padding=1, pad_value=1.0)[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(size, size))
    tile_h, tile_w = images.shape[-2] + 1, images.shape[-1] + 1  # make_grid's padding: 1 pixel
    ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks(1 + tile_w * np.arange(n1) + tile_w / 2 - 1, _tick_labels(z1), rotation=90, fontsize=7)
    ax.set_yticks(1 + tile_h * np.arange(n2) + tile_h / 2 - 1, _tick_labels(z2[::-1]), fontsize=7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax.figure


def draw_path(axes, start, decoded, end, digits, confidence, labels):
    """One row of the interpolation figure on ``axes`` (len(decoded) + 2 of them): the original image ``start`` (1, H, W),
    the decoded steps (S, 1, H, W) titled with the classifier's reading and confidence (red below 0.9), the original
    ``end``. ``labels``: the true digits of the two originals. The originals are framed in blue."""
    if len(axes) != len(decoded) + 2:
        raise ValueError(f"draw_path() draws the two originals and {len(decoded)} steps: it needs {len(decoded) + 2} axes, "
                         f"received {len(axes)}.")
    tiles = [(start, f"original {labels[0]}", "black")]
    tiles += [(image, f"{int(digit)} ({c:.2f})", "black" if c >= 0.9 else "crimson")
              for image, digit, c in zip(decoded, digits, confidence)]
    tiles += [(end, f"original {labels[1]}", "black")]
    for k, (ax, (image, title, colour)) in enumerate(zip(axes, tiles)):
        ax.imshow(torch.as_tensor(image)[0], cmap="gray", vmin=0, vmax=1)
        original = k in (0, len(tiles) - 1)
        ax.set_title(title, fontsize=9, color=colour, fontweight="bold" if original else "normal")
        ax.set_xticks([]), ax.set_yticks([])
        if original:
            for spine in ax.spines.values():
                spine.set(color="royalblue", linewidth=2)


def progress(iterable, desc):
    """A ``tqdm.auto`` progress bar over ``iterable``: a live widget in Jupyter, a text bar in a terminal.

    In a notebook the widget is displayed with an IPython display id, and when the bar closes that display
    is updated to a static copy of the final state (text, and HTML with a ``<progress>`` bar). A widget
    needs a JavaScript widget manager to be drawn; the static copy is what a headless run saves, so GitHub,
    nbviewer, JupyterLab and an HTML export all show the finished bar, not the 0% it started at.
    """
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):
        return tqdm(iterable, desc=desc)
    from html import escape

    from IPython.display import display

    class SavedProgressBar(notebook_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self.handle = display(self.container, display_id=True)
            self.displayed = True

        def close(self):
            finished = self.disable
            super().close()
            if finished:  # closed before: the display already holds the final state
                return
            text = self.format_meter(**self.format_dict)  # e.g. "LeNet-5 epochs: 100%|##########| 10/10 [...]"
            left, right = text.partition("|")[0], text.rpartition("|")[2]  # "LeNet-5 epochs: 100%", " 10/10 [...]"
            html = (f'<div style="display:flex;align-items:center;gap:0.5em"><span>{escape(left)}</span>'
                    f'<progress value="{self.n}" max="{self.total or self.n}" style="width:16em"></progress>'
                    f"<span>{escape(right)}</span></div>")
            self.handle.update({"text/plain": text, "text/html": html}, raw=True)

    return SavedProgressBar(iterable, desc=desc)

# The grading kit marks each line a student fills in with a trailing ``# blank...`` comment; a reader of the solved
# notebook sees the code without them.


GRADING_MARKER = re.compile(r"[ \t]+# blank\b[^\n]*")


def show_source(obj):
    """The source code of a class or function, rendered in the notebook as a code block (grading markers removed)."""
    from IPython.display import Markdown

    # a module loaded statement by statement (blanks still open) keeps each definition's text: see casekit.source
    source = vars(obj).get("__casekit_source__") if hasattr(obj, "__dict__") else None
    return Markdown(f"```python\n{GRADING_MARKER.sub('', source or inspect.getsource(obj))}```")
