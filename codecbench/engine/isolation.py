"""Run codec calls in a worker process: a native crash or a hang costs one call, not the caller.

:class:`Worker` runs ``serve()`` in a child process and talks to it over two
pipes (length-prefixed pickles); a call names a ``"package.module:function"``
and its arguments. The caller gets the result or the exception raised
(foreign ones, ``SystemExit`` included, as ``RuntimeError``);
:class:`~codecbench.core.errors.CodecCrashError` when the worker dies in the call
(with the signal and its last stderr line of that call); or
:class:`~codecbench.core.errors.CodecTimeoutError` past ``timeout``. A timeout, a
crash or :meth:`Worker.close` SIGKILLs the worker's whole process group; the
next call starts a fresh worker, whose start-up is never inside a timeout.
``memory_limit`` caps its address space above its start-up size; ``preload``
imports modules at start-up; ``CODECBENCH_WORKER_CPU`` pins it to one core.
The manual: ``docs/robustness.md``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

from codecbench.core.errors import CodecbenchError, CodecCrashError, CodecTimeoutError, error_text

_HEADER = struct.Struct("<Q")
#: seconds a new worker may take to import codecbench and the codec libraries
STARTUP_TIMEOUT = 300.0


class Worker:
    """One worker process, started on first use and replaced after a crash or timeout.

    ``memory_limit``: bytes of address space the worker may add after start-up
    (None: no limit). ``env``: extra environment variables for the worker.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, *, memory_limit: int | None = None, env: dict[str, str] | None = None,
                 label: str = "codec worker", preload: tuple[str, ...] = ()) -> None:
        self.memory_limit = memory_limit
        self.env = dict(env or {})
        if preload:
            self.env["CODECBENCH_WORKER_PRELOAD"] = ",".join(preload)
        self.label = label
        self.proc: subprocess.Popen | None = None
        self._stderr: Any = None
        self._call_stderr = 0  # where the current call's stderr output starts in that file
        #: worker processes started so far (1 + restarts after crashes/timeouts)
        self.starts = 0

    # -- lifecycle ------------------------------------------------------
    def start(self) -> None:
        if self._running():
            return
        self._reap()
        env = {**os.environ, "MALLOC_ARENA_MAX": "2", **self.env}
        if self.memory_limit is not None:
            env["CODECBENCH_WORKER_MEMORY"] = str(int(self.memory_limit))
        self._stderr = tempfile.TemporaryFile(prefix="codecbench-worker-", suffix=".log")
        self._call_stderr = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from codecbench.engine.isolation import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
            # its own session and process group: a Ctrl-C in the terminal reaches the caller, which then closes
            # us; and killing the group stops whatever processes the codec started, too
            start_new_session=True,
        )
        self.starts += 1
        self._send(("ping", None, (), {}))
        status, value = self._receive(STARTUP_TIMEOUT, "start-up")
        if status != "ok":
            self._kill()
            raise CodecbenchError(f"{self.label} failed to start: {value}")

    def close(self) -> None:
        """Stop the worker (politely: close its input, wait up to 5 s), then kill what is left of its process group."""
        if self._running():
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self._wait_exit(5)
        self._reap()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self._running() else None

    # -- calls ----------------------------------------------------------
    def call(self, function: str, *args: Any, timeout: float | None = None, describe: str | None = None,
             **kwargs: Any) -> Any:
        """Call ``"module:function"(*args, **kwargs)`` in the worker; see the module docstring.

        ``describe`` names the call in crash and timeout messages (default: the function).
        """
        self.start()
        started = time.monotonic()
        what = describe or function
        self._call_stderr = os.fstat(self._stderr.fileno()).st_size  # a crash quotes only this call's output
        try:
            self._send(("call", function, args, kwargs))
        except CodecCrashError as exc:
            raise CodecCrashError(str(exc).replace(function, what, 1)) from None
        status, value = self._receive(timeout, what, started)
        if status == "ok":
            return value
        raise value

    # -- internals --------------------------------------------------------
    def _send(self, message: tuple) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._crashed(message[1] or "start-up") from None

    def _receive(self, timeout: float | None, what: str, started: float | None = None) -> tuple[str, Any]:
        started = time.monotonic() if started is None else started
        deadline = None if timeout is None else started + timeout
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        need = _HEADER.size
        header_done = False
        while True:
            while len(buf) < need:
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    self._kill()
                    raise CodecTimeoutError(
                        f"{what}: no result after {timeout:g} s; the {self.label} was killed"
                    )
                ready, _, _ = select.select([fd], [], [], wait)
                if not ready:
                    continue
                chunk = os.read(fd, max(need - len(buf), 1 << 16))
                if not chunk:
                    raise self._crashed(what)
                buf += chunk
            if header_done:
                break
            (length,) = _HEADER.unpack_from(buf)
            del buf[: _HEADER.size]
            need, header_done = length, True
        try:
            return pickle.loads(bytes(buf[:need]))
        except Exception as exc:  # a result the caller cannot unpickle
            return "error", RuntimeError(f"{what}: unreadable result from the worker ({exc})")

    def _crashed(self, what: str) -> CodecCrashError:
        proc = self.proc
        self._wait_exit(10)
        self._kill()  # the processes the codec started die with the worker
        code = proc.returncode
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        tail = self._stderr_tail()
        self._reap()
        return CodecCrashError(f"{what}: the {self.label} {how}" + (f" (stderr: {tail})" if tail else ""))

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(self._call_stderr, size - 2000))
            lines = [ln.strip() for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def _running(self) -> bool:
        """Whether the worker process is alive; checked without reaping it, so its PID (the id of its process
        group) stays reserved for :meth:`_kill`."""
        if self.proc is None or self.proc.returncode is not None:
            return False
        if not hasattr(os, "waitid"):  # macOS: reaps, so the group is killed by the worker's PID no more
            return self.proc.poll() is None
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:  # reaped elsewhere
            return False

    def _wait_exit(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the worker to exit (without reaping it)."""
        deadline = time.monotonic() + timeout
        while self._running() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _kill(self) -> None:
        """SIGKILL the worker's process group (the worker and every process a codec started in it), then reap
        the worker. A process that left the group (its own ``setsid``) is out of reach."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker, not yet reaped, still owns that group id
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def _reap(self) -> None:
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
            self._kill()
        self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


# -- the worker side ------------------------------------------------------------
def _address_space() -> int:
    """This process's current virtual memory size in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _limit_memory(headroom: int) -> None:
    import resource

    try:
        limit = _address_space() + headroom
    except OSError:
        limit = headroom
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _read_exact(stream: Any, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _described(exc: BaseException) -> RuntimeError:
    """A RuntimeError carrying ``exc``'s type name and the first line of its message."""
    return RuntimeError(error_text(exc))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it is an ``Exception`` that survives pickling, else :func:`_described` of it."""
    if not isinstance(exc, Exception):  # e.g. SystemExit: the caller must not exit with it
        return _described(exc)
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return _described(exc)


def serve() -> None:
    """The worker's main loop (stdin: requests, the original stdout: replies)."""
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    proto_in = sys.stdin.buffer
    cpu = os.environ.get("CODECBENCH_WORKER_CPU")
    if cpu is not None and hasattr(os, "sched_setaffinity"):  # one worker per core (Runner with several jobs)
        os.sched_setaffinity(0, {int(cpu)})
    for module in filter(None, os.environ.get("CODECBENCH_WORKER_PRELOAD", "").split(",")):
        importlib.import_module(module)
    headroom = os.environ.get("CODECBENCH_WORKER_MEMORY")
    if headroom:
        # import every codec library before the memory limit is measured and applied; without a limit
        # a codec's modules are imported when it is first built (torch only for learned codecs)
        from codecbench.core.codec import available_codecs

        available_codecs()
        _limit_memory(int(headroom))
    functions: dict[str, Any] = {}
    while True:
        header = _read_exact(proto_in, _HEADER.size)
        if header is None:
            return
        (length,) = _HEADER.unpack(header)
        payload = _read_exact(proto_in, length)
        if payload is None:
            return
        kind, name, args, kwargs = pickle.loads(payload)
        try:
            if kind == "ping":
                result: tuple[str, Any] = ("ok", os.getpid())
            else:
                if name not in functions:
                    module, _, attr = name.partition(":")
                    functions[name] = getattr(importlib.import_module(module), attr)
                result = ("ok", functions[name](*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - everything (sys.exit() included) goes back to the caller
            if isinstance(exc, KeyboardInterrupt):
                raise
            result = ("error", _portable(exc))
        try:
            reply = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            reply = pickle.dumps(("error", RuntimeError(f"{name}: result cannot be sent back ({exc})")))
        proto_out.write(_HEADER.pack(len(reply)) + reply)
        proto_out.flush()


# -- helpers for functions that run in a worker ------------------------------------
_CODECS: dict[tuple, Any] = {}


def worker_codec(spec: str, device: str = "cpu", threads: int | None = None, **kwargs: Any) -> Any:
    """The configured codec for ``spec`` in this process, created once (models load once per worker)."""
    from codecbench.core.codec import Spec, create_codec, get_codec_class

    key = (spec, device, threads, tuple(sorted(kwargs.items())))
    if key not in _CODECS:
        if kwargs:
            parsed = Spec.parse(spec)
            _CODECS[key] = get_codec_class(parsed.name)(device=device, threads=threads, **parsed.raw, **kwargs)
        else:
            _CODECS[key] = create_codec(spec, device=device, threads=threads)
    return _CODECS[key]
