"""Writing a file or folder beside its target and renaming it into place.

Everything keras_mixer writes for users (exports, converted weights) goes
through `staged`, so a failure never leaves a half-written target behind.
"""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def staged(target, overwrite=False):
    """Yields a fresh path beside `target` to write into; renames it to `target` on success.

    The staging path is inside a hidden, non-numeric folder in the same
    folder as `target` (so the rename is atomic and TF Serving, which only
    loads numeric versions, ignores it) and has `target`'s file name (so
    writers that check suffixes, like `save_weights`, accept it). On any
    failure it is removed, leaving nothing behind. Unless `overwrite`, an
    existing `target` is never replaced: that is a ValueError, before or
    after writing; with `overwrite`, a file target is replaced atomically.

    Example:

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with staged(target) as path:
    ...     _ = open(path, "w").write("done")
    >>> open(target).read(), os.listdir(os.path.dirname(target))
    ('done', ['notes.txt'])
    """
    if os.path.exists(target) and not overwrite:
        raise ValueError(f"{target!r} already exists; it is never overwritten.")
    parent, name = os.path.split(os.path.abspath(target))
    created_parent = not os.path.isdir(parent)
    os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=f".{name}-incomplete-", dir=parent)
    staging = os.path.join(folder, name)
    try:
        yield staging
        if not os.path.exists(staging):
            raise RuntimeError(f"Nothing was written at {staging!r}.")
        if overwrite:
            os.replace(staging, target)
        elif os.path.exists(target):
            raise ValueError(f"{target!r} appeared while writing it; it is not overwritten.")
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if created_parent:
            shutil.rmtree(parent, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
