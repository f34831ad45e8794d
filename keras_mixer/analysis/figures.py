"""Figures without pyplot's global state, and the one way they are saved."""

import os

from keras_mixer.staging import staged


def new_figure(width, height):
    """A `matplotlib.figure.Figure` of `width` x `height` inches, not registered with pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure, path=None, dpi=100):
    """Writes `figure` as a PNG at `path` (staged and renamed; folders are created); returns it.

    With `path=None` nothing is written, so every figure function can take
    `path=` and pass it here.

    Example:

    >>> import os, tempfile
    >>> from keras_mixer.analysis.figures import new_figure, save_figure
    >>> figure = new_figure(2, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "empty.png")
    >>> save_figure(figure, path) is figure, os.path.getsize(path) > 0
    (True, True)
    """
    if path is not None:
        path = os.fspath(path)
        if not path.lower().endswith(".png"):
            raise ValueError(f"path={path!r} is not supported; expected a file name ending in .png.")
        with staged(path, overwrite=True) as staging:
            figure.savefig(staging, dpi=dpi, format="png")
    return figure


def show_matrix(axes, image, title=None):
    """Draws `image` with a diverging colour map centred on zero, without ticks."""
    import numpy as np

    limit = float(np.max(np.abs(image))) or 1.0
    axes.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title, fontsize=8)
