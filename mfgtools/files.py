"""Writing files without losing any: atomic writes, output checks and write locks.

The contract (docs/reliability.md):

- a file is written to a temporary name in its directory, flushed to disk and
  renamed onto its path, so a crash, a kill or a full disk never leaves a
  partial file, and a failed write leaves any previous file untouched;
- a failed write (disk full, quota, permission, read-only file system, netCDF's
  ``HDF error``) is one :class:`~mfgtools.errors.MFGError` line naming the file;
- an output path is checked before any work: not empty, not a directory, its
  directory writable, not one of the run's inputs, and (the command line) not an
  existing file unless ``--overwrite`` is given;
- a process writing ``PATH`` holds ``PATH.lock`` (an exclusive ``flock`` on it,
  released by the kernel when the process dies, so the lock of a killed run is
  taken over); a second writer of the same path is refused. A kill (SIGKILL,
  power cut) can leave a write's temporary file (``.NAME.tmp-XXXX``) behind;
  the next writer of ``NAME``, once it holds the lock, removes it.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile

from mfgtools.errors import MFGError

try:  # POSIX: kernel locks, released when their process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"
_LOCK_HEADER = "mfgtools lock"

_REASONS: dict[int | None, str] = {
    errno.ENOSPC: "no space left on the device (the disk is full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EFBIG: "file too large for the file system",
}


def write_error(path: str, error: BaseException) -> MFGError:
    """One line for a write of ``path`` that the system refused (``error``: OSError or netCDF's RuntimeError)."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if isinstance(error, OSError):
        reason = _REASONS.get(error.errno, error.strerror or str(error) or error.__class__.__name__)
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            advice = f"free space in {directory!r} or write elsewhere"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            advice = f"write to a directory you may write to (not {directory!r})"
        else:
            advice = "check the path and the disk"
    else:  # netCDF reports a failed write (most often a full disk) as RuntimeError("NetCDF: HDF error")
        reason = f"the netCDF library failed ({' '.join(str(error).split())}), most often because the disk is full"
        advice = f"free space in {directory!r} or write elsewhere"
    return MFGError(f"cannot write {path!r}: {reason}; nothing was written ({advice})")


def _is_netcdf_failure(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, RuntimeError) and ("NetCDF" in text or "HDF" in text)


def atomic_write(path, write, overwrite: bool = True) -> str:
    """Call ``write(temporary_path)``, flush it to disk and rename it onto ``path``; returns ``path``.

    Nothing partial is ever left: on any failure (or an interrupt) the temporary
    file is removed and an existing ``path`` is untouched. Disk-full, permission
    and netCDF write failures become one :class:`MFGError` naming ``path``.
    ``overwrite=False`` refuses to replace an existing file, atomically (a hard
    link that fails if ``path`` appeared meanwhile).
    """
    path = os.fspath(path)
    if not path:
        raise MFGError("cannot write a file with an empty name; give a file name")
    if os.path.isdir(path):
        raise MFGError(f"cannot write {path!r}: it is a directory; give a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MFGError(f"cannot write {path!r}: directory {directory!r} does not exist")
    if not overwrite and os.path.lexists(path):
        raise MFGError(f"{path!r} exists; choose another path or allow replacing it (--overwrite, overwrite=True)")
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=_temporary_prefix(path), suffix=os.path.splitext(path)[1], dir=directory
        )
        os.close(handle)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        write(temporary)
        _flush_to_disk(temporary)
        # mkstemp creates the file owner-only (0600); give the result the permissions a
        # plain open() would have: those of the file it replaces, else 0666 minus umask.
        os.chmod(temporary, _file_mode(path))
        if overwrite:
            os.replace(temporary, path)
        else:
            _rename_no_clobber(temporary, path)
    except BaseException as error:
        _unlink_quietly(temporary)
        if isinstance(error, FileExistsError) and not overwrite:
            raise MFGError(
                f"{path!r} appeared while it was being written; nothing was replaced: "
                "choose another path or allow replacing it (--overwrite, overwrite=True)"
            ) from None
        if isinstance(error, OSError) or _is_netcdf_failure(error):
            raise write_error(path, error) from None
        raise
    _flush_directory(directory)
    return path


def _temporary_prefix(path: str) -> str:
    """Name prefix of ``path``'s temporaries: ``.NAME.tmp-`` (hidden, and traceable to the file they were for)."""
    return f".{os.path.basename(path)}.tmp-"


def remove_stale_temporaries(path) -> list[str]:
    """Delete the temporaries that killed writes of ``path`` left behind; returns their paths.

    Call it only while holding ``path``'s :class:`FileLock`: then no other
    process is writing ``path``, and every ``.NAME.tmp-*`` file is a leftover.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temporary_prefix(path)
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if name.startswith(prefix):
            stale = os.path.join(directory, name)
            if os.path.isfile(stale) and not os.path.islink(stale):
                _unlink_quietly(stale)
                removed.append(stale)
    return removed


def _rename_no_clobber(temporary: str, path: str) -> None:
    try:
        os.link(temporary, path)  # fails with EEXIST if path exists: no race with another writer
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, "exists", path) from None
        if os.path.lexists(path):  # no hard links here (FAT, some network file systems)
            raise FileExistsError(errno.EEXIST, "exists", path) from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def _flush_to_disk(path: str) -> None:
    """fsync ``path``: a full disk can surface only now (delayed allocation), not at write()."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _flush_directory(directory: str) -> None:
    """fsync the directory so the rename survives a power cut (best effort)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# ----- paths ------------------------------------------------------------------------------
def same_file(first, second) -> bool:
    """Whether two paths name the same file (symbolic links and ``..`` resolved; hard links when both exist)."""
    first, second = os.fspath(first), os.fspath(second)
    if not first or not second:
        return False
    try:
        if os.path.exists(first) and os.path.exists(second):
            return os.path.samefile(first, second)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(first)) == os.path.normcase(os.path.realpath(second))


def check_output_path(path, what: str = "--out", *, overwrite: bool = True, inputs=(), outputs=()) -> str:
    """Check, before any work, that ``path`` can be written; returns it.

    Refused with one line: an empty name, a directory, a missing or unwritable
    directory, a path equal to one of ``inputs`` (files the run reads) or to
    another of ``outputs``, and an existing file unless ``overwrite``.
    ``inputs`` and ``outputs`` are ``(label, path)`` pairs (None paths skipped).
    """
    path = os.fspath(path) if path is not None else ""
    if not path.strip():
        raise MFGError(f"{what} is empty; give a file name")
    if os.path.isdir(path):
        raise MFGError(f"{what} {path!r} is a directory; give a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MFGError(f"cannot write {path!r}: directory {directory!r} does not exist")
    for label, other in inputs:
        if other is not None and same_file(path, other):
            raise MFGError(f"{what} {path!r} is the {label}, which this run reads; write the output to another path")
    for label, other in outputs:
        if other is not None and same_file(path, other):
            raise MFGError(f"{what} and {label} are the same file {path!r}; give two paths")
    try:  # the only reliable test (read-only mounts, ACLs, root): create a file there
        handle, probe = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise MFGError(
            f"cannot write {path!r}: {_REASONS.get(error.errno, error.strerror or str(error))} in {directory!r}"
        ) from None
    if not overwrite and os.path.lexists(path):
        raise MFGError(f"{what} {path!r} exists; pass --overwrite to replace it, or choose another path")
    return path


def input_files(values) -> list:
    """The values among ``values`` that name existing files (parameters such as map, graph, dataset)."""
    found = []
    for value in values:
        if isinstance(value, (str, os.PathLike)) and os.fspath(value) and os.path.isfile(os.fspath(value)):
            found.append(os.fspath(value))
    return found


# ----- locks ------------------------------------------------------------------------------
class FileLock:
    """An exclusive claim on writing ``path``: ``path + ".lock"``, held open under ``flock``.

    A second :class:`FileLock` of the same path, in this or another process,
    is refused with one line naming the holder's pid. The kernel drops the
    ``flock`` when the holding process dies, so the lock file of a killed run is
    simply taken over, together with the temporaries its killed writes left
    (:func:`remove_stale_temporaries`). :meth:`release` (or leaving the
    ``with`` block) deletes the lock file. A file ``PATH.lock`` that is not an mfgtools lock is never
    touched: the lock is refused instead.
    """

    def __init__(self, path, what: str = "output"):
        self.path = os.fspath(path)
        self.lock_path = self.path + LOCK_SUFFIX
        self.what = what
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> FileLock:
        if self.held:
            return self
        for _ in range(20):  # retried only when the file was replaced between open() and flock()
            descriptor = self._open()
            if fcntl is None:  # pragma: no cover - Windows: O_EXCL only, no stale-lock recovery
                self._descriptor = descriptor
                break
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_text(descriptor)
                os.close(descriptor)
                raise MFGError(
                    f"another mfgtools process ({_holder(holder)}) is writing {self.path!r}; wait for it to end or "
                    f"choose another path (the lock is {self.lock_path!r})"
                ) from None
            try:  # the holder we waited on may have deleted the file: lock the file that is there now
                current = os.stat(self.lock_path)
            except FileNotFoundError:
                current = None
            if current is None or current.st_ino != os.fstat(descriptor).st_ino:
                os.close(descriptor)
                continue
            content = _read_text(descriptor)
            if content and not content.startswith(_LOCK_HEADER):
                os.close(descriptor)
                raise MFGError(
                    f"{self.lock_path!r} exists and is not an mfgtools lock file; mfgtools uses it to "
                    f"guard {self.path!r}: move it away or choose another path"
                )
            self._descriptor = descriptor
            break
        else:  # pragma: no cover - a lock file replaced 20 times in a row
            raise MFGError(
                f"cannot lock {self.path!r}: {self.lock_path!r} keeps changing; another process is writing it"
            )
        record = f"{_LOCK_HEADER}\npid {os.getpid()}\nhost {socket.gethostname()}\n".encode()
        try:
            os.ftruncate(self._descriptor, 0)
            os.pwrite(self._descriptor, record, 0)
        except OSError as error:
            self.release()
            raise write_error(self.lock_path, error) from None
        remove_stale_temporaries(self.path)
        return self

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if fcntl is None else 0)
        try:
            return os.open(self.lock_path, flags, 0o644)
        except FileExistsError:  # pragma: no cover - Windows
            raise MFGError(
                f"another mfgtools process is writing {self.path!r} ({self.lock_path!r} exists); "
                "wait for it to end, or delete the lock file if none runs"
            ) from None
        except IsADirectoryError:
            raise MFGError(
                f"{self.lock_path!r} is a directory; mfgtools needs that name for the lock of "
                f"{self.path!r}: move it away or choose another path"
            ) from None
        except OSError as error:
            raise write_error(self.lock_path, error) from None

    def release(self) -> None:
        """Delete the lock file and drop the lock (no-op when not held)."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        try:  # delete while still holding the flock: a waiter then sees a stale inode and retries
            if os.stat(self.lock_path).st_ino == os.fstat(descriptor).st_ino:
                os.unlink(self.lock_path)
        except OSError:
            pass
        finally:
            os.close(descriptor)

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):  # a lock forgotten by its owner: drop it with the object
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _read_text(descriptor: int) -> str:
    try:
        return os.pread(descriptor, 512, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _holder(content: str) -> str:
    fields = dict(line.split(" ", 1) for line in content.splitlines()[1:] if " " in line)
    if "pid" in fields:
        return f"pid {fields['pid']}" + (
            f" on {fields['host']}" if fields.get("host") not in (None, socket.gethostname()) else ""
        )
    return "pid unknown"
