"""Files the caller names: atomic output, and file-system errors as the project's error.

An output file is either fully written or not touched at all.  Any failure of the
file system on a path the caller gave (a directory where a file is expected, a
missing or read-only directory, a name too long, no space left) raises
:class:`~sparsesim.errors.FileError` naming the path and the reason.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import FileError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def user_path(path, what: str = "file") -> Path:
    """``path`` as a :class:`Path`, refusing what no file system accepts."""
    if not isinstance(path, (str, os.PathLike)):
        raise FileError(f"{what} path must be a string or path, got {type(path).__name__}")
    text = os.fspath(path)
    if isinstance(text, bytes) or not text:
        raise FileError(f"{what} path must be a non-empty string, got {text!r}")
    if "\0" in text:
        raise FileError(f"{what} path {text!r} contains a NUL character")
    return Path(text)


def file_error(path, exc: OSError, doing: str) -> FileError:
    """The project's error for an ``OSError`` met while ``doing`` something with ``path``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return FileError(f"cannot {doing} {str(path)!r}: {reason[:1].lower()}{reason[1:]}")


@contextmanager
def user_file(path, mode: str = "rb", what: str = "file"):
    """``open(path, mode)`` whose file-system errors (on opening, reading or writing)
    are :class:`FileError` naming the path."""
    p = user_path(path, what)
    doing = "read" if "r" in mode else "write"
    try:
        f = open(p, mode)
    except OSError as exc:
        raise file_error(p, exc, doing) from None
    try:
        with f:
            yield f
    except OSError as exc:
        if isinstance(exc, FileError):
            raise
        raise file_error(p, exc, doing) from None


def is_file(path) -> bool:
    """Whether ``path`` names a regular file; ``False`` (not an exception) for a name no
    file system takes (NUL, too long, a component that is a file)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError, TypeError):
        return False


def is_dir(path) -> bool:
    """Like :func:`is_file`, for a directory."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError, TypeError):
        return False


def read_bytes(path, what: str = "file") -> bytes:
    """The bytes of a file the caller named; file-system errors are :class:`FileError`."""
    with user_file(path, "rb", what) as f:
        return f.read()


def decode_text(raw: bytes, path, error=None) -> str:
    """``raw`` as UTF-8 text (a leading byte-order mark dropped); a byte that is not UTF-8
    raises ``error`` (default :class:`~sparsesim.errors.InputError`) naming the file, the
    line and the byte."""
    from .errors import InputError

    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise (error or InputError)(f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x})") from None


def read_text(path, what: str = "file", error=None) -> str:
    """The UTF-8 text of a file the caller named (see :func:`read_bytes`, :func:`decode_text`)."""
    return decode_text(read_bytes(path, what), path, error)


def _creatable(p: Path, what: str) -> None:
    """``p`` does not exist: its nearest existing ancestor must be a writable directory."""
    parent = p.parent
    while True:
        try:
            exists = parent.exists()
        except OSError as exc:
            raise file_error(p, exc, "write") from None
        if exists:
            break
        if parent == parent.parent:
            break
        parent = parent.parent
    if not is_dir(parent):
        raise FileError(f"cannot write {str(p)!r}: {str(parent)!r} is not a directory")
    _probe(parent, p)


def _probe(folder: Path, target: Path) -> None:
    """Create and remove an empty file in ``folder`` (permissions, read-only or virtual file systems)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sparsesim-probe.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise file_error(target, exc, "write") from None


def check_output_file(path, what: str = "output") -> Path:
    """Refuse, before any work, an output file that could not be written: a directory, a
    name no file system takes, a missing parent that cannot be created, a read-only place.
    Nothing is created."""
    p = user_path(path, what)
    if is_dir(p):
        raise FileError(f"cannot write {str(p)!r}: it is a directory; expected a file name")
    try:
        exists = p.exists()
    except OSError as exc:
        raise file_error(p, exc, "write") from None
    if exists:
        _probe(p.parent, p)  # the file is replaced by a rename in its folder
        return p
    _creatable(p, what)
    return p


def check_output_dir(path, what: str = "output folder") -> Path:
    """Like :func:`check_output_file`, for a folder the command fills (created when the work is done)."""
    p = user_path(path, what)
    try:
        exists = p.exists()
    except OSError as exc:
        raise file_error(p, exc, "write") from None
    if exists:
        if not is_dir(p):
            raise FileError(f"cannot write into {str(p)!r}: it is a file, not a folder")
        _probe(p, p)
        return p
    _creatable(p, what)
    return p


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file lives in the same directory so the final ``os.replace`` is
    atomic on POSIX. On any exception the temporary file is removed and ``path`` is
    left as it was.  File-system errors of the set-up and of the final rename are
    :class:`FileError`.
    """
    path = user_path(path, "output")
    try:
        if path.is_dir():
            raise FileError(f"cannot write {str(path)!r}: it is a directory; expected a file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        # a short prefix keeps the temporary name legal whenever the final one is
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:32]}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise file_error(path, exc, "write") from None
    try:
        yield Path(tmp)
        try:
            # mkstemp creates 0600; give the result the permissions a plain open() would.
            os.chmod(tmp, 0o666 & ~_current_umask())
            os.replace(tmp, path)
        except OSError as exc:
            raise file_error(path, exc, "write") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write(path, data: bytes | str, text: bool) -> None:
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise file_error(path, exc, "write") from None


def write_text_atomic(path, text: str) -> None:
    _write(path, text, True)


def write_bytes_atomic(path, data: bytes) -> None:
    _write(path, data, False)


def save_npy_atomic(path, array) -> None:
    """``numpy.save`` to ``path`` atomically (no ``.npy`` suffix is appended)."""
    import numpy as np

    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise file_error(path, exc, "write") from None


# what numpy's readers raise on a file that is not the .npy / .npz it claims to be
def _npy_errors():
    import zipfile
    import zlib

    return (ValueError, EOFError, OSError, MemoryError, KeyError, TypeError, SyntaxError, zipfile.BadZipFile,
            zlib.error, NotImplementedError)


def read_npy(path, what: str = "input"):
    """The single array of a ``.npy`` file (no pickles); a file that is not one is an
    :class:`~sparsesim.errors.InputError` naming it."""
    import numpy as np

    from .errors import InputError

    with user_file(path, "rb", what) as f:
        try:
            w = np.load(f, allow_pickle=False)
        except FileError:
            raise
        except _npy_errors() as exc:
            raise InputError(f"{path}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
        if not isinstance(w, np.ndarray):
            w.close()
            raise InputError(f"{path}: expected a single array (.npy), got an archive")
    return w
