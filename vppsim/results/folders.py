"""Result folders: claimed before computing, staged privately, published atomically.

A run claims its output folder ``OUT`` before it computes anything
(:meth:`ResultFolder.claim`): ``OUT`` must not exist, its parent must be writable, and no
other live run may be writing it. The claim holds an OS lock (``.OUT.lock`` beside ``OUT``,
``flock``: the kernel drops it when the process dies, so a killed run never blocks the next
one) and creates the staging folder ``OUT.incomplete``. Everything is written there;
:meth:`ResultFolder.publish` renames it to ``OUT`` only when complete, and refuses if ``OUT``
appeared meanwhile. A folder without the ``.incomplete`` suffix is therefore always complete
and always the work of one run. If a step fails, what was already written stays in
``OUT.incomplete`` together with ``error.txt``; the next run claiming ``OUT`` replaces it,
unless it holds a resumable long run (``.horizon/run.json``, :mod:`vppsim.results.horizon`),
which is kept for the next run to continue.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: msvcrt locks the first byte instead
    fcntl = None  # type: ignore[assignment]
    import msvcrt

INCOMPLETE_SUFFIX = ".incomplete"
#: a long run's stream and checkpoints inside the staging folder, and its identity file
HORIZON_DIR = ".horizon"
RESUME_FILE = f"{HORIZON_DIR}/run.json"

#: characters kept in names that become folder names (others become ``_``)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class OutputFolderError(Exception):
    """The output folder cannot be used: it exists, another run is writing it, or not writable.

    The message starts with what was expected, e.g. ``--out: expected a folder that does not
    exist yet, got results/x``; the CLI prints it and exits with code 2. ``reason`` is
    ``"exists"``, ``"busy"`` (another run holds it) or ``"unwritable"``.
    """

    def __init__(self, message: str, reason: str = "unwritable") -> None:
        super().__init__(message)
        self.reason = reason


def safe_name(name: str, max_len: int = 100) -> str:
    """``name`` made safe as one folder name: no separators, no leading dots, at most ``max_len``.

    ``../../evil/x`` becomes ``evil_x``; an empty result becomes ``scenario``.
    """
    cleaned = _UNSAFE.sub("_", str(name)).strip("._-")
    cleaned = re.sub(r"_+", "_", cleaned)[:max_len].strip("._-")
    return cleaned or "scenario"


def default_out_dir(scenario_name: str, base: Path | None = None) -> Path:
    """``results/<scenario>-<timestamp>`` under ``base`` (default: the working directory).

    The scenario name is passed through :func:`safe_name`, so the folder is always directly
    inside ``results/``.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (base or Path.cwd()) / "results" / f"{safe_name(scenario_name)}-{stamp}"


#: how long :meth:`FolderLock.acquire` waits for a dead holder's forked children to end, s
ORPHAN_WAIT_S = 2.0


def _alive(pid_text: str) -> bool:
    """True unless ``pid_text`` names a process that does not exist (unknown: alive)."""
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, OverflowError, PermissionError):
        return True
    except ProcessLookupError:
        return False
    return True


class FolderLock:
    """An exclusive OS lock on ``path`` (a lock file), released by the kernel if the process dies.

    The file holds the pid of its holder, for the message of whoever finds it locked. A
    process forked by the holder (``vppsim run``'s baseline and drawing processes,
    :mod:`vppsim.forked`) shares the lock until it ends; such children end with the holder,
    so a lock found held while the pid in the file is dead is waited for, up to
    :data:`ORPHAN_WAIT_S`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False if another live process holds it. OSError if it cannot be created."""
        deadline = time.monotonic() + ORPHAN_WAIT_S
        while not self._try_acquire():
            if _alive(self.holder()) or time.monotonic() > deadline:
                return False
            time.sleep(0.02)  # the dead holder's children are ending
        return True

    def _try_acquire(self) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock_fd(fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                raise
            try:  # the holder before us may have removed the file between our open and lock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The pid written by the lock's holder (``?`` if unreadable)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _lock_fd(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


#: renameat2(2) flag: fail with EEXIST instead of replacing the destination (Linux >= 3.15)
_RENAME_NOREPLACE = 1
#: renameat2(2)'s "relative to the working directory" file descriptor
_AT_FDCWD = -100


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; ``FileExistsError`` if ``dst`` exists, even as an empty folder.

    Plain ``rename`` replaces an empty destination folder, so a check before it leaves a
    window in which a folder created by something that does not take the lock would be
    replaced. On Linux ``renameat2(RENAME_NOREPLACE)`` makes the check and the rename one
    step; where it is missing (another system, an old C library, a file system without the
    flag) the check comes just before the rename.
    """
    libc = _libc()
    renameat2 = getattr(libc, "renameat2", None) if libc is not None else None
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                     _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: the file system lacks the flag
            raise OSError(err, os.strerror(err), str(dst))
    if dst.exists() or dst.is_symlink():
        raise FileExistsError(errno.EEXIST, "it exists", str(dst))
    os.rename(src, dst)


def _libc() -> ctypes.CDLL | None:
    """The C library with ``errno`` kept (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


class ResultFolder:
    """An output folder claimed by this run: locked, staged in ``OUT.incomplete``, published once.

    Use :meth:`claim` before computing; write into :attr:`work`; then :meth:`publish` (rename
    to ``OUT``) or :meth:`fail` (keep ``OUT.incomplete`` with ``error.txt``).
    """

    def __init__(self, out: Path, work: Path, lock: FolderLock, replaced_stale: bool,
                 resumable: bool = False) -> None:
        self.out = out
        self.work = work
        self.replaced_stale = replaced_stale
        #: the staging folder was kept: it holds a long run to resume (``RESUME_FILE``)
        self.resumable = resumable
        self._lock = lock

    @classmethod
    def claim(cls, out: str | Path, option: str = "--out") -> ResultFolder:
        """Claim ``out`` for this run, before computing anything.

        Raises
        ------
        OutputFolderError
            ``out`` exists (a folder or a file), another live run is writing it, or its parent
            cannot be created or written.
        """
        out = Path(out)
        _check_absent(out, option)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            lock = FolderLock(out.parent / f".{out.name}.lock")
            locked = lock.acquire()
        except OSError as exc:
            raise OutputFolderError(
                f"{option}: expected a location this run can write, but "
                f"{_unwritable_reason(out.parent, exc)}") from None
        if not locked:
            raise OutputFolderError(
                f"{option}: another vppsim run (pid {lock.holder()}) is writing {out}; "
                "choose another folder or wait for it to finish", reason="busy")
        work = out.with_name(out.name + INCOMPLETE_SUFFIX)
        try:
            _check_absent(out, option)  # published by a run that finished before our lock
            resumable = (work / RESUME_FILE).is_file()  # a long run to continue: kept
            replaced = work.exists() and not resumable
            if replaced:  # left by a run that failed or was killed: we hold the lock, it is dead
                shutil.rmtree(work)
            if not resumable:
                work.mkdir()
        except OutputFolderError:
            lock.release()
            raise
        except OSError as exc:
            lock.release()
            raise OutputFolderError(
                f"{option}: expected a location this run can write, but {work} cannot be "
                f"created ({exc.strerror or exc})") from None
        return cls(out, work, lock, replaced, resumable)

    @classmethod
    def claim_new(cls, out: Path, option: str = "--out") -> ResultFolder:
        """Claim ``out``, or ``out-2``, ``out-3``... if it is taken (for default folder names)."""
        for i in range(1, 1000):
            candidate = out if i == 1 else out.with_name(f"{out.name}-{i}")
            if candidate.exists() or candidate.with_name(candidate.name + INCOMPLETE_SUFFIX).exists():
                continue
            try:
                return cls.claim(candidate, option)
            except OutputFolderError as exc:
                if exc.reason == "unwritable":
                    raise
        raise OutputFolderError(f"{option}: no free folder name beside {out}")

    def publish(self) -> Path:
        """Rename the staging folder to ``out`` and release the lock; return ``out``.

        Raises
        ------
        OutputFolderError
            ``out`` appeared while this run was computing (created by something that does not
            take the lock); this run's complete results stay in :attr:`work`.
        """
        try:
            rename_noreplace(self.work, self.out)
        except OSError as exc:
            self.release()
            appeared = exc.errno in (errno.EEXIST, errno.ENOTEMPTY)
            raise OutputFolderError(
                (f"--out: {self.out} appeared while this run was computing; it was left untouched"
                 if appeared else f"--out: {self.work} could not be renamed to {self.out} "
                 f"({exc.strerror or exc})")
                + f"; this run's complete results are in {self.work}",
                reason="exists" if appeared else "unwritable") from None
        self.release()
        return self.out

    def fail(self, exc: BaseException) -> Path:
        """Keep the staging folder with ``error.txt`` (the traceback), release the lock."""
        try:
            if self.work.is_dir():  # not yet published
                (self.work / "error.txt").write_text(
                    "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                    encoding="utf-8")
        finally:
            self.release()
        return self.work

    def release(self) -> None:
        """Drop the lock (idempotent); the folders stay as they are."""
        self._lock.release()

    def discard(self) -> None:
        """Remove the staging folder if nothing was written to it, and release the lock."""
        try:
            if self.work.is_dir() and not any(self.work.iterdir()):
                self.work.rmdir()
        finally:
            self.release()


def _unwritable_reason(folder: Path, exc: OSError) -> str:
    """Why ``folder`` cannot be written: an ancestor that is a file, or the OS error."""
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                return f"{ancestor} is a file, not a folder"
            break
    return f"{folder} is not writable ({exc.strerror or exc})"


def _check_absent(out: Path, option: str) -> None:
    if out.exists() or out.is_symlink():
        what = "a folder" if out.is_dir() else "a file"
        raise OutputFolderError(
            f"{option}: expected a folder that does not exist yet, got {out} ({what})",
            reason="exists")


def claim(out: Path | None, default: Path, option: str = "--out") -> ResultFolder:
    """Claim the folder the user named (``out``) or a free one beside ``default``."""
    return ResultFolder.claim(out, option) if out is not None else ResultFolder.claim_new(default, option)


def output_path(out: Path | ResultFolder) -> Path:
    """The final path of ``out`` (a path or a claimed folder)."""
    return out.out if isinstance(out, ResultFolder) else Path(out)


@contextmanager
def result_folder(out: Path | ResultFolder) -> Iterator[Path]:
    """Yield the staging folder of ``out`` (claimed here if a path); publish it if the block succeeds.

    On failure the staging folder keeps what was written plus ``error.txt``, and the error
    propagates.
    """
    folder = out if isinstance(out, ResultFolder) else ResultFolder.claim(out)
    try:
        yield folder.work
    except BaseException as exc:
        folder.fail(exc)
        raise
    folder.publish()
