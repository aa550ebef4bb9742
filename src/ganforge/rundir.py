"""A run directory belongs to one training process at a time.

``lock_run_dir(RUN_DIR)`` takes an exclusive ``flock`` on ``RUN_DIR/.lock`` and writes the holder's pid in
it. A second process (another ``train``, or a ``--resume``) is refused with one line naming that pid. The
kernel drops the lock when its holder dies, even by ``kill -9``, so a stale ``.lock`` file from a killed run
is simply taken over: nothing to clean up by hand, and no pid-reuse guesswork. Within one process the lock
is shared (a test, or a script, may build a second Trainer on the same directory), and it is released when
the last :class:`RunDirLock` referring to it is garbage collected or the process exits.

``remove_stale_temporaries(RUN_DIR)`` deletes the ``.NAME.tmpPID`` files that atomic writes leave behind
when a process is killed mid-write, once their writer ``PID`` is gone.
"""

from __future__ import annotations

import os
import re
import time
import weakref
from pathlib import Path

from .errors import UserError

LOCK_NAME = ".lock"
#: Atomic writers (checkpoints, sample PNGs, metrics, eval.json) name their temporaries ``.NAME.tmpPID...``.
_TEMPORARY = re.compile(r"^\..+\.tmp(\d+)")
#: ... as ``.NAME.tmpPID``, ``.NAME.tmpPID.SUFFIX`` or ``.STEM.tmpPID.SUFFIX``: what :func:`written_path` reads
_TEMPORARY_PARTS = re.compile(r"^\.(?P<name>.+)\.tmp\d+(?P<suffix>\.\w+)?$")


def written_path(name: str) -> str:
    """The file an atomic write was writing when ``name`` is its temporary (the user never named that), else
    ``name``: how an error on the temporary is told to the user."""
    path = Path(name)
    m = _TEMPORARY_PARTS.match(path.name)
    if m is None:
        return name
    original, suffix = m["name"], m["suffix"] or ""
    return str(path.with_name(original if original.endswith(suffix) else original + suffix))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through ``.NAME.tmpPID`` and a rename: a kill mid-write leaves the old file or
    the new one, and the temporary is one :func:`remove_stale_temporaries` recognises."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")  # pages and tables carry non-ASCII (σ, −) whatever the locale
    except OSError as e:  # a full disk: the error names no file; it is this one (the old file is untouched)
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from None
    os.replace(tmp, path)

def finite_or_null(obj):
    """``obj`` with every NaN or infinite float replaced by None (JSON null), recursively through dicts, lists and
    tuples: ``json.dumps`` would write the bare ``NaN``/``Infinity`` that strict JSON readers refuse."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def check_writable_output(path: Path, flag: str = "--out") -> None:
    """Fail at once, in one line, when the file ``path`` could not be written: its directory is made if needed
    and a temporary file is created and removed in it (``mkdir`` alone passes for ``/proc``). Commands call
    it before their work, so a bad output path costs no training or sampling."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(f".{path.name}.tmp{os.getpid()}.probe")
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UserError(f"{flag} {path}: cannot be written in {path.parent} ({e.strerror or e}): expected a "
                        "writable directory") from None


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """A directory a command will write into: a file already at ``path`` is one line, not "File exists"."""
    if Path(path).exists() and not Path(path).is_dir():
        raise UserError(f"{flag} {path}: is a file, expected a directory (one that exists, or a new name)")


try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None

# realpath -> the lock this process holds on it (shared by every Trainer of this process on that directory)
_HELD: weakref.WeakValueDictionary[str, RunDirLock] = weakref.WeakValueDictionary()


class RunDirLock:
    """An exclusive lock on a run directory, held while this object lives (or until :meth:`release`)."""

    def __init__(self, path: Path, fd: int | None):
        self.path, self._fd = path, fd
        self._finalizer = weakref.finalize(self, _close, fd)

    def release(self) -> None:
        self._finalizer()


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock


def _holder_pid(fd: int, wait_s: float = 0.5) -> str:
    """The pid the lock's holder wrote into the lock file. The holder takes the lock first and writes its pid
    just after, so a process refused in between finds the file empty: it waits up to ``wait_s`` for the pid
    before calling the holder "unknown"."""
    deadline = time.monotonic() + wait_s
    while True:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder or time.monotonic() > deadline:
            return holder or "unknown"
        time.sleep(0.01)


def lock_run_dir(run_dir: str | Path) -> RunDirLock:
    """Create ``run_dir`` if needed and lock it for this process; a :class:`UserError` names the process
    already holding it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    held = _HELD.get(key)
    if held is not None:
        return held
    path = run_dir / LOCK_NAME
    if fcntl is None:
        lock = RunDirLock(path, None)
        _HELD[key] = lock
        return lock
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_pid(fd)
        os.close(fd)
        raise UserError(f"run directory {run_dir} is in use by process {holder} (lock {path}): wait for it "
                        "to finish or stop it, or choose another --out") from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    lock = RunDirLock(path, fd)
    _HELD[key] = lock
    return lock


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temporaries(run_dir: str | Path, subdirs: tuple[str, ...] = ("", "checkpoints", "samples")
                             ) -> list[Path]:
    """Delete ``.NAME.tmpPID*`` files under ``run_dir`` (and ``subdirs``) whose writer is no longer running;
    returns what was removed."""
    removed = []
    for sub in subdirs:
        folder = Path(run_dir) / sub
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = _TEMPORARY.match(p.name)
            if m and p.is_file() and not _alive(int(m.group(1))):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed
