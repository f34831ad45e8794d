"""Writing a file or folder beside its target and renaming it into place.

Everything keras_mixer writes for users (exports, converted weights) goes
through `staged` (one named target) or `staged_version` (the next numeric
version of a TF Serving model folder), so that:

- a failure removes only what this write created (never a parent folder,
  which another process may be writing into too);
- a finished target is never touched again (the rename into place refuses
  to replace it);
- a killed writer leaves only a hidden staging folder, whose name records
  the host and process id, and the next write into that folder removes it
  once that process is dead (or the folder is a day old).
"""

import contextlib
import dataclasses
import os
import re
import shutil
import socket
import tempfile
import time
import zlib

# Staging folders: ".<name>-incomplete-<host tag>-<pid>-<random>".
_STAGING = re.compile(r"^\..+-incomplete-([0-9a-f]{8})-([0-9]+)-[^-]+$")
# A leftover of another host, or of a reused process id, is removed after a day.
STALE_SECONDS = 24 * 3600
# TF Serving versions are int64.
MAX_VERSION = 2**63 - 1


def _host_tag():
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _is_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _is_leftover(parent, entry, now):
    match = _STAGING.match(entry)
    if match is None:
        return False
    try:
        age = now - os.lstat(os.path.join(parent, entry)).st_mtime
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    host, pid = match.group(1), int(match.group(2))
    return host == _host_tag() and pid != os.getpid() and not _is_alive(pid)


def remove_leftovers(parent):
    """Removes the staging folders in `parent` of writers that are dead (or a day old).

    Returns the names removed. Live writers' staging folders, finished
    targets and anything else are left alone.

    Example:

    >>> import os, tempfile
    >>> parent = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(parent, f".1-incomplete-{_host_tag()}-999999999-abc"))
    >>> len(remove_leftovers(parent)), os.listdir(parent)
    (1, [])
    """
    now = time.time()
    removed = []
    for entry in sorted(os.listdir(parent)):
        if _is_leftover(parent, entry, now):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
            removed.append(entry)
    return removed


def check_target_folder(folder, what="target folder"):
    """Raises a ValueError unless `folder` exists or can be made, and files can be written in it.

    Names the folder and what is wrong: an empty name, a file on the way, or
    no permission. Creates nothing (a probe folder is made and removed in
    the nearest existing folder). Returns the absolute path.

    Example:

    >>> check_target_folder("")
    Traceback (most recent call last):
    ValueError: target folder '' is not supported; expected a non-empty folder path.
    """
    if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder):
        raise ValueError(f"{what} {folder!r} is not supported; expected a non-empty folder path.")
    folder = os.path.abspath(os.fspath(folder))
    existing = folder
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        inside = "" if existing == folder else f" (it would be inside the file {existing!r})"
        raise ValueError(f"{what} {folder!r} is not usable: {existing!r} is a file{inside}; expected a folder.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=existing))
    except OSError as error:
        raise ValueError(f"{what} {folder!r} is not writable: {error.strerror or error} in {existing!r}.") from None
    return folder


@contextlib.contextmanager
def _staging_folder(parent, name):
    """A fresh hidden folder in `parent`, named for this host and process; removed at the end."""
    parent = check_target_folder(parent)
    os.makedirs(parent, exist_ok=True)
    remove_leftovers(parent)
    folder = tempfile.mkdtemp(prefix=f".{name}-incomplete-{_host_tag()}-{os.getpid()}-", dir=parent)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _written(staging):
    if not os.path.exists(staging):
        raise RuntimeError(f"Nothing was written at {staging!r}.")


@contextlib.contextmanager
def staged(target, overwrite=False):
    """Yields a fresh path beside `target` to write into; renames it to `target` on success.

    The staging path is inside a hidden, non-numeric folder in the same
    folder as `target` (so the rename is atomic and TF Serving, which only
    loads numeric versions, ignores it) and has `target`'s file name (so
    writers that check suffixes, like `save_weights`, accept it). On any
    failure it is removed, leaving nothing behind (parent folders that were
    made are kept: another process may be using them). Unless `overwrite`,
    an existing `target` is never replaced: that is a ValueError, before or
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
    with _staging_folder(parent, name) as folder:
        staging = os.path.join(folder, name)
        yield staging
        _written(staging)
        if overwrite:
            os.replace(staging, target)
        elif os.path.exists(target):
            raise ValueError(f"{target!r} appeared while writing it; it is not overwritten.")
        else:
            os.rename(staging, target)


def check_version(version):
    """`version` if it is a TF Serving version (an int from 1 to 2**63 - 1), else a ValueError."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise ValueError(f"version={version!r} is not supported; expected an integer from 1 to {MAX_VERSION}.")
    return version


def next_version(base_dir):
    """The next free numeric version under `base_dir` (1 for a new folder)."""
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(entry) for entry in os.listdir(base_dir) if entry.isascii() and entry.isdigit()]
    return max(versions, default=0) + 1


@dataclasses.dataclass
class StagedVersion:
    """Where to write (`path`) and, once renamed into place, the version folder (`target`)."""

    path: str
    target: str = None


def _claim(staging, base_dir, version):
    """Renames `staging` to `base_dir/<version>`, or to the next free version if `version` is None.

    The rename is the claim: it is atomic and fails when another writer's
    finished version holds the name, so a lost race takes the next number.
    """
    candidate = next_version(base_dir) if version is None else version
    while True:
        target = os.path.join(base_dir, str(candidate))
        if not os.path.lexists(target):
            try:
                os.rename(staging, target)
                return target
            except OSError:
                if not os.path.lexists(target):
                    raise
        if version is not None:
            raise ValueError(f"{target!r} appeared while writing it; it is not overwritten.")
        candidate = max(candidate + 1, next_version(base_dir))
        check_version(candidate)


@contextlib.contextmanager
def staged_version(base_dir, version=None):
    """Yields a `StagedVersion` to write one folder into; renames it to a numeric version.

    `version` None takes the next free version at the moment of the rename
    (two writers racing into one folder get different versions); a given
    `version` that exists is a ValueError, before or after writing. The
    base folder is checked (made if missing) before the body runs.

    Example:

    >>> import os, tempfile
    >>> base_dir = os.path.join(tempfile.mkdtemp(), "model")
    >>> with staged_version(base_dir) as staging:
    ...     os.mkdir(staging.path)
    >>> staging.target[-8:], os.listdir(base_dir)
    ('/model/1', ['1'])
    """
    if version is not None:
        check_version(version)
        if os.path.lexists(os.path.join(base_dir, str(version))):
            raise ValueError(f"{os.path.join(base_dir, str(version))!r} already exists; it is never overwritten.")
    else:
        check_version(next_version(base_dir))
    with _staging_folder(base_dir, "version") as folder:
        staging = StagedVersion(os.path.join(folder, "version"))
        yield staging
        _written(staging.path)
        staging.target = _claim(staging.path, base_dir, version)
