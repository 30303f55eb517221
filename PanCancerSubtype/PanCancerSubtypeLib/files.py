"""Files the library writes: checksums, atomic writes and JSON, in one place.

* :func:`sha256_file` -- SHA-256 of a file, or of every file of a folder (sorted relative paths
  and contents); used for input provenance, model bundles and network weights.
* :func:`atomic_write_text` / :func:`atomic_write_bytes` -- write to a temporary file in the
  same folder, ``fsync``, then ``os.replace``: a reader never sees a half-written file and a
  crash leaves the old file (or none).  The result gets the permissions a plain ``open()``
  would give it (``0o666`` minus the umask), not the temporary file's ``0o600``.
* :func:`atomic_path` -- the same for a writer that wants a file name (SimpleITK, matplotlib,
  mesh writers): a temporary path with the same extension, renamed over ``path`` on success and
  removed on failure.
* :func:`check_output_path` -- before any work: can this file / folder be written (parent folder
  present or creatable and writable, a known extension)?  Raises
  :class:`~.errors.UsageError` naming the option.
* :func:`write_json` / :func:`read_json` -- JSON with NumPy scalars and arrays converted
  (:func:`json_default`); writing is atomic.  :func:`to_jsonable` makes a strict-JSON copy
  (NaN / infinity -> ``null``) for files other programs read.
* :func:`utc_timestamp` -- "now" for a file's metadata (ISO 8601, UTC, seconds), or the time the
  environment variable ``SOURCE_DATE_EPOCH`` gives (reproducible builds' convention), so that
  a file that records when it was made can still be the same bytes for the same inputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1 << 20


def detached_data_files(path: PathLike) -> list:
    """The voxel files a detached image header names (MetaImage ``.mhd``: ``ElementDataFile``;
    NRRD ``.nhdr``: ``data file``; a file name or a ``LIST`` of them, relative to the header),
    those that exist; ``[]`` for any other file (the voxels are in the file itself)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".mhd", ".nhdr") or not p.is_file():
        return []
    with open(p, "rb") as fh:
        text = fh.read(1 << 16).decode("latin-1")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        key, sep, value = line.partition("=" if suffix == ".mhd" else ":")
        key = key.strip().lower().replace(" ", "")
        if not sep or key not in ("elementdatafile", "datafile"):
            continue
        value = value.strip()
        if value.upper() == "LOCAL" or "%" in value:
            return []
        names = [x.strip() for x in lines[i + 1:] if x.strip()] \
            if value.upper().startswith("LIST") else [value]
        out = [(Path(n) if os.path.isabs(n) else p.parent / n) for n in names]
        return [f for f in out if f.is_file()]
    return []


def sha256_file(path: PathLike, algo: str = "sha256", chunk: int = _CHUNK) -> str:
    """Hex digest of a file, or of all files of a folder (sorted by relative path; each file's
    relative path is hashed before its contents).  A detached image header (``.mhd``,
    ``.nhdr``) is hashed with the voxel files it names (:func:`detached_data_files`): a change
    of the voxels changes the checksum."""
    h = hashlib.new(algo)
    p = Path(path)
    files: Iterable[Path] = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else \
        [p] + detached_data_files(p)
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            while True:
                b = fh.read(chunk)
                if not b:
                    break
                h.update(b)
    return h.hexdigest()


_CODE_SHA: Optional[str] = None


def code_sha256() -> str:
    """SHA-256 of this package's Python sources (sorted relative paths and contents): what a
    resumed cohort run keys its stored results on besides the version, so that results of
    other code are computed again (the version alone does not change between commits)."""
    global _CODE_SHA
    if _CODE_SHA is None:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).replace(os.sep, "/").encode())
            h.update(f.read_bytes())
        _CODE_SHA = h.hexdigest()
    return _CODE_SHA


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _suffix(name: str) -> str:
    low = name.lower()
    for double in (".seg.nrrd", ".nii.gz", ".tar.gz", ".csv.gz"):
        if low.endswith(double):
            return name[-len(double):]
    return Path(name).suffix


@contextmanager
def atomic_path(path: PathLike, keep_extension: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (a hidden name; with ``keep_extension`` it ends
    with ``path``'s extension, so format-sniffing writers pick the same format); when the block
    ends without an error the file gets the permissions a plain ``open()`` would give it
    (``0o666`` minus the umask), is ``fsync``-ed and replaces ``path``; on an error it is
    removed.  Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".",
                               suffix=".tmp" + (_suffix(path.name) if keep_extension else ""))
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.chmod(tmp, 0o666 & ~_umask())
        except OSError:  # pragma: no cover - file systems without modes
            pass
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise



def save_figure(fig, path: PathLike, dpi: int = 120, **kw) -> None:
    """Write a matplotlib figure whole or not at all (:func:`atomic_path`; the format from the
    extension).  A case name in a script the font lacks (CJK) is drawn as boxes without
    matplotlib's glyph warning."""
    import warnings

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(tmp, dpi=dpi, **kw)

def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created)."""
    path = Path(path)
    with atomic_path(path, keep_extension=False) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return path


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def check_output_path(path: PathLike, option: str = "--out",
                      extensions: Optional[Iterable[str]] = None, folder: bool = False) -> Path:
    """Check that ``path`` can be written, without creating anything.

    A file (``folder=False``) must not be an existing folder and must end with one of
    ``extensions`` (any when ``None``); a folder must not be an existing file.  The nearest
    existing ancestor must be a writable folder (missing folders are created when writing).
    Raises :class:`~.errors.UsageError` with ``option`` as its source.
    """
    from .errors import UsageError

    path = Path(path)
    if str(path) == "":
        raise UsageError("an empty path was given", source=option)
    if folder:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{str(path)!r} exists and is not a folder", source=option)
    else:
        if path.is_dir():
            raise UsageError(f"{str(path)!r} is a folder; give a file name", source=option)
        exts = tuple(extensions) if extensions is not None else ()
        if exts and not path.name.lower().endswith(exts):
            raise UsageError(f"{str(path)!r} does not end with {' or '.join(exts)}", source=option)
    parent = path if folder else path.parent
    parent = parent.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot create {str(path)!r}: {str(parent)!r} is a file, not a folder",
                         source=option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {str(path)!r}: folder {str(parent)!r} is not writable",
                         source=option)
    return path


def json_default(o: Any) -> Any:
    """``json.dump(default=...)`` hook: NumPy scalars -> Python, arrays -> lists, paths and
    anything else -> ``str``."""
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def to_jsonable(v: Any) -> Any:
    """A plain-Python copy of ``v`` for strict JSON: dicts (keys as text), lists, tuples and
    arrays recursively; NumPy scalars -> Python; NaN and infinities -> ``None``; anything else
    that is not a JSON type -> ``str``."""
    import math

    import numpy as np

    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [to_jsonable(x) for x in v.tolist()]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if v is None or isinstance(v, str):
        return v
    return str(v)


def to_json_text(obj: Any, indent: Optional[int] = 1, allow_nan: bool = True,
                 sort_keys: bool = False) -> str:
    """The JSON text :func:`write_json` writes (ends with a newline)."""
    return json.dumps(obj, indent=indent, default=json_default, allow_nan=allow_nan,
                      sort_keys=sort_keys) + "\n"


def write_json(path: PathLike, obj: Any, indent: Optional[int] = 1, allow_nan: bool = True,
               sort_keys: bool = False) -> Path:
    """Write ``obj`` as JSON, atomically (NumPy values converted by :func:`json_default`)."""
    return atomic_write_text(path, to_json_text(obj, indent=indent, allow_nan=allow_nan,
                                                sort_keys=sort_keys))


def read_json(path: PathLike) -> Any:
    """Parse a JSON file (``OSError`` / ``ValueError`` propagate to the caller, which knows
    which error to raise for its kind of file)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def source_date():
    """The time ``SOURCE_DATE_EPOCH`` (seconds since 1970) gives, as an aware UTC
    ``datetime``, or None when it is not set."""
    import datetime

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc) if epoch \
        else None


def utc_timestamp() -> str:
    """The current time, or ``SOURCE_DATE_EPOCH``'s when that is set (:func:`source_date`), as
    ISO 8601 in UTC to the second (``"2026-12-07T05:30:00+00:00"``)."""
    import datetime

    when = source_date() or datetime.datetime.now(datetime.timezone.utc)
    return when.isoformat(timespec="seconds")
