"""Writing an export beside its target and renaming it into place."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def staged(target):
    """Yields a fresh path beside `target` to write into; renames it to `target` on success.

    The staging path is a hidden, non-numeric name in the same folder (so the
    rename is atomic and TF Serving, which only loads numeric versions, ignores
    it). On any failure it is removed, leaving nothing behind. An existing
    `target` is never overwritten: that is a ValueError, before or after writing.
    """
    if os.path.exists(target):
        raise ValueError(f"{target!r} already exists; exports are never overwritten.")
    parent, name = os.path.split(os.path.abspath(target))
    created_parent = not os.path.isdir(parent)
    os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=f".{name}-incomplete-", dir=parent)
    staging = os.path.join(folder, name)
    try:
        yield staging
        if not os.path.exists(staging):
            raise RuntimeError(f"The export wrote nothing at {staging!r}.")
        if os.path.exists(target):
            raise ValueError(f"{target!r} appeared while exporting; it is not overwritten.")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if created_parent:
            shutil.rmtree(parent, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
