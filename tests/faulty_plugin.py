"""A test-only codec package that misbehaves on purpose, discovered through its entry point.

:func:`install` writes ``cb_faulty_demo.py`` and a ``.dist-info`` folder with a
``codecbench.codecs`` entry point into a folder; a process with that folder on
``PYTHONPATH`` (a ``codecbench run`` subprocess and its worker processes)
discovers the codecs exactly as it would an installed package's. Nothing is
installed into the environment, and the test process itself never imports it.

Codecs (raw pixels behind a small header ``b"FD" + H, W, C``):

``faulty-demo``
    works, except on images of particular widths: 17 → ``decode`` calls
    ``os.abort()``; 19 → ``decode`` sleeps forever; 23 → ``decode``
    dereferences a null pointer (SIGSEGV); 29 → ``encode`` raises RuntimeError;
    31 → ``decode`` calls ``sys.exit(3)``.
``slow-init-demo``
    works, but its constructor (a model loading, say) sleeps
    ``$CB_SLOW_INIT_S`` seconds (default 6); if ``$CB_INIT_GATE`` names a file,
    it waits until that file exists instead (at most 300 s).
``segv-demo``
    decodes its own streams; a stream whose magic is damaged makes it
    segfault, one whose height field is 0xFFFF makes it hang.
``zeroing-demo``
    writes zeros over the image it is given to encode, through ``ctypes``
    (past numpy's read-only flag), then codes what is left.
``echo-demo``
    writes one byte; its decoder returns the array it was last given to
    encode (a "lossless" codec at 8 bits an image).
``child-hang-demo``
    its decoder starts a ``sleep 1000`` child process (appending the child's
    PID to the file ``$CB_CHILD_PIDS``), then hangs.
``thread-demo``
    works, but its first encode starts a non-daemon thread that sleeps
    forever.
"""

from __future__ import annotations

import textwrap
import os
from pathlib import Path

MODULE = textwrap.dedent('''
    import ctypes
    import os
    import struct
    import subprocess
    import sys
    import threading
    import time

    import numpy as np

    from codecbench.core.codec import Codec


    def _encode(image):
        h, w, c = image.shape
        return b"FD" + struct.pack(">HHB", h, w, c) + image.tobytes()


    def _decode(data):
        h, w, c = struct.unpack(">HHB", data[2:7])
        pixels = np.frombuffer(data[7:], np.uint8)
        if pixels.size != h * w * c:
            raise ValueError(f"{pixels.size} pixel bytes for {h}x{w}x{c}")
        return pixels.reshape(h, w, c).copy()


    class FaultyDemo(Codec):
        name = "faulty-demo"
        lossless = True

        def _encode(self, image):
            if image.shape[1] == 29:
                raise RuntimeError("this codec refuses width 29")
            return _encode(image)

        def _decode(self, data):
            w = struct.unpack(">H", data[4:6])[0]
            if w == 17:
                os.abort()
            if w == 19:
                while True:
                    time.sleep(3600)
            if w == 23:
                ctypes.string_at(0)
            if w == 31:
                sys.exit(3)
            return _decode(data)


    class SlowInitDemo(Codec):
        name = "slow-init-demo"
        lossless = True

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            gate = os.environ.get("CB_INIT_GATE")
            if gate:
                deadline = time.monotonic() + 300
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.1)
            else:
                time.sleep(float(os.environ.get("CB_SLOW_INIT_S", "6")))

        def _encode(self, image):
            return _encode(image)

        def _decode(self, data):
            return _decode(data)


    class SegvDemo(Codec):
        name = "segv-demo"
        lossless = True

        def _encode(self, image):
            return _encode(image)

        def _decode(self, data):
            if data[:2] != b"FD":
                ctypes.string_at(0)  # a native crash on a corrupt header
            if data[2:4] == b"\\xff\\xff":
                while True:
                    time.sleep(3600)
            return _decode(data)


    class ZeroingDemo(Codec):
        name = "zeroing-demo"
        lossless = True

        def _encode(self, image):
            ctypes.memset(image.ctypes.data, 0, image.nbytes)
            return _encode(image)

        def _decode(self, data):
            return _decode(data)


    class EchoDemo(Codec):
        name = "echo-demo"
        lossless = True

        def _encode(self, image):
            self.last = image
            return b"E"

        def _decode(self, data):
            return self.last


    class ChildHangDemo(Codec):
        name = "child-hang-demo"
        lossless = True

        def _encode(self, image):
            return _encode(image)

        def _decode(self, data):
            child = subprocess.Popen(["sleep", "1000"])
            with open(os.environ["CB_CHILD_PIDS"], "a") as f:
                f.write(f"{child.pid}\\n")
            while True:
                time.sleep(3600)


    class ThreadDemo(Codec):
        name = "thread-demo"
        lossless = True

        def _encode(self, image):
            if not hasattr(self, "sleeper"):
                self.sleeper = threading.Thread(target=time.sleep, args=(10**6,), name="thread-demo-sleeper")
                self.sleeper.start()
            return _encode(image)

        def _decode(self, data):
            return _decode(data)
''')


def install(folder: Path) -> Path:
    """Write the plugin package into ``folder``; return it (put it on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cb_faulty_demo.py").write_text(MODULE)
    dist = folder / "cb_faulty_demo-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-faulty-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[codecbench.codecs]\nfaulty-demo = cb_faulty_demo:FaultyDemo\nsegv-demo = cb_faulty_demo:SegvDemo\n"
        "slow-init-demo = cb_faulty_demo:SlowInitDemo\nzeroing-demo = cb_faulty_demo:ZeroingDemo\n"
        "echo-demo = cb_faulty_demo:EchoDemo\nchild-hang-demo = cb_faulty_demo:ChildHangDemo\n"
        "thread-demo = cb_faulty_demo:ThreadDemo\n"
    )
    return folder


def environment(tmp_path_factory) -> dict[str, str]:
    """This process's environment with the plugin installed into a fresh folder on PYTHONPATH and a fresh
    results cache, for the ``codecbench`` subprocesses of a test module."""
    folder = install(tmp_path_factory.mktemp("plugin"))
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "CODECBENCH_CACHE": str(tmp_path_factory.mktemp("cache"))}
