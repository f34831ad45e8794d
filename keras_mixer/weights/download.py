"""Downloading official checkpoints and caching their conversion to Keras weights.

Layout of the cache (`$KERAS_MIXER_CACHE_DIR`, default `~/.keras/keras_mixer`):

- `downloads/<model>_<tag>_<file>`: the publisher's file. It is fetched with
  `keras.utils.get_file` under a `.partial` name, its SHA-256 checked where
  the preset has one, read back completely (a truncated file fails to
  parse), and only then renamed to its final name:
  an interrupted download is never taken for a finished one.
- `converted/<model>_<tag>.weights.h5`: the same weights in the Keras layout,
  written atomically after a successful conversion, so each checkpoint is
  converted once.
"""

import hashlib
import os

from keras_mixer.weights.keras_file import save_keras_weights
from keras_mixer.weights.readers import read_checkpoint


def cache_dir():
    """The cache folder: `$KERAS_MIXER_CACHE_DIR`, else `~/.keras/keras_mixer`."""
    default = os.path.join(os.path.expanduser("~"), ".keras", "keras_mixer")
    return os.environ.get("KERAS_MIXER_CACHE_DIR") or default


def check_sha256(path, expected):
    """Raises a ValueError unless the file's SHA-256 is `expected` (None: not published)."""
    if expected is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ValueError(f"its SHA-256 is {digest.hexdigest()}; the publisher's is {expected}")


def fetch(entry):
    """Returns the local path of a `registry.Preset`'s checkpoint, downloading it if needed."""
    import keras

    folder = os.path.join(cache_dir(), "downloads")
    final = os.path.join(folder, entry.filename)
    if os.path.exists(final):
        return final
    os.makedirs(folder, exist_ok=True)
    try:
        partial = keras.utils.get_file(
            fname=entry.filename + ".partial",
            origin=entry.url,
            cache_dir=cache_dir(),
            cache_subdir="downloads",
            force_download=True,
        )
    except Exception as error:  # get_file re-raises network errors as Exception
        raise ValueError(f"Downloading {entry.url} failed: {error}") from None
    try:
        check_sha256(partial, entry.sha256)
        read_checkpoint(partial)
    except ValueError as error:
        os.remove(partial)
        raise ValueError(
            f"The download of {entry.url} is incomplete or corrupt and was "
            f"deleted; try again. ({error})"
        ) from None
    os.replace(partial, final)
    return final


def converted_weights(preset):
    """Returns the path of a `registry.Preset` converted to a Keras `.weights.h5` (cached).

    The preset's variant is built at its own size and class count with the
    arguments the checkpoint needs, and the checkpoint loaded into it; a
    backbone preset's without its head, whose weights are not worth keeping.
    """
    from keras_mixer.weights import load_weights

    path = os.path.join(cache_dir(), "converted", f"{preset.variant.name}_{preset.tag}.weights.h5")
    if os.path.exists(path):
        return path
    source = fetch(preset)
    model = preset.variant.build(
        input_shape=(preset.image_size, preset.image_size, 3),
        classes=preset.classes,
        include_top=not preset.backbone,
        **preset.arguments,
    )
    load_weights(model, source)
    return save_keras_weights(model, path, preset.gelu_approximate)
