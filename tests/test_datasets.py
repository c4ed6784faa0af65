"""Dataset registry, loaders, verification, downloads and safe extraction.

Real data: ``$CODECBENCH_DATA`` (CI: ``../shared/datasets``; a relative path is
tried against the working directory, then the repository root). Download,
checksum and extraction logic: synthetic files served from a local HTTP server
on 127.0.0.1 (no network needed).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import logging
import os
import pickle
import socket
import tarfile
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecbench.datasets import (
    SOURCES,
    Dataset,
    DatasetItem,
    DatasetWarning,
    available_datasets,
    data_root,
    fetch,
    get_dataset,
    is_available,
    verify,
)
from codecbench.datasets.cifar import read_batch
from codecbench.datasets.cifar_source import Cifar10
from codecbench.core.errors import DatasetError, ImageError
from codecbench.core.images import load_image, to_gray

REPO = Path(__file__).resolve().parents[1]


def _find_real_root() -> tuple[Path | None, str]:
    env = os.environ.get("CODECBENCH_DATA")
    candidates = []
    if env:
        p = Path(env).expanduser()
        candidates = [p] if p.is_absolute() else [Path.cwd() / p, REPO / p]
        what = f"CODECBENCH_DATA={env}"
    else:
        candidates = [REPO.parent / "shared" / "datasets"]
        what = f"CODECBENCH_DATA unset and no {candidates[0]}"
    for c in candidates:
        if (c / "kodak").is_dir():
            return c.resolve(), ""
    return None, f"real datasets not found ({what}; looked in {', '.join(map(str, candidates))})"


REAL_ROOT, REAL_MISSING = _find_real_root()
needs_real = pytest.mark.skipif(REAL_ROOT is None, reason=REAL_MISSING)


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("codecbench-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch, _session_cache):
    """Verified markers go to a per-session folder; no proxy for the local test server."""
    monkeypatch.setenv("CODECBENCH_CACHE", str(_session_cache))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def real(monkeypatch):
    if REAL_ROOT is None:
        pytest.skip(REAL_MISSING)
    monkeypatch.setenv("CODECBENCH_DATA", str(REAL_ROOT))
    return REAL_ROOT


# ----------------------------------------------------------------------------- helpers


def png_bytes(seed: int, size=(6, 4)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Server:
    """A tiny HTTP server on 127.0.0.1: ``files[path] = bytes``; ``truncate`` paths send half their body."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in outer.truncate:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def fake_kodak(monkeypatch, server):
    """Make 'kodak' a 3-file dataset served by the local server."""
    files = {f"kodim0{i}.png": png_bytes(i) for i in (1, 2, 3)}
    for name, data in files.items():
        server.files[f"/kodak/{name}"] = data
    src = SOURCES["kodak"]
    monkeypatch.setattr(src, "files", {n: sha256(d) for n, d in files.items()})
    monkeypatch.setattr(src, "urls", (server.url + "/kodak/{name}",))
    return files


def make_tar(entries, *, gz=True) -> bytes:
    """entries: list of (name, bytes) regular files, or (name, TarInfo-kwargs dict) for special members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if isinstance(content, dict):
                for k, v in content.items():
                    setattr(info, k, v)
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


BSD_IDS = ("3096", "8023", "12084")


@pytest.fixture
def fake_bsd(monkeypatch, server):
    images = {f"test/{i}.jpg": png_bytes(int(i)) for i in BSD_IDS}  # content need not be JPEG for the checks
    src = SOURCES["bsd300"]
    monkeypatch.setattr(src, "files", {rel: sha256(d) for rel, d in images.items()})
    monkeypatch.setattr(src, "urls", (server.url + "/BSDS300-images.tgz",))

    def serve(extra=(), drop=None):
        entries = [(f"BSDS300/images/{rel}", d) for rel, d in images.items() if rel != drop]
        entries += [("BSDS300/images/train/1.jpg", b"x"), ("BSDS300/iids_test.txt", b"3096\n")]
        server.files["/BSDS300-images.tgz"] = make_tar(list(extra) + entries)
        return server.files["/BSDS300-images.tgz"]

    return images, serve


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ----------------------------------------------------------------------------- registry and names


def test_available_datasets_and_unknown_name():
    names = available_datasets()
    assert list(names)[:4] == ["embedded", "kodak", "bsd300", "cifar10"]
    assert "folder:PATH" in names and all(isinstance(d, str) and d for d in names.values())
    with pytest.raises(DatasetError) as exc:
        get_dataset("kodac")
    for known in ("embedded", "kodak", "bsd300", "cifar10", "folder:PATH", ":gray"):
        assert known in str(exc.value)
    with pytest.raises(DatasetError):
        get_dataset("kodak", max_images=0)


def test_data_root_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CODECBENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_root() == tmp_path / "datasets"
    monkeypatch.setenv("CODECBENCH_DATA", "../elsewhere")
    assert data_root() == tmp_path / "../elsewhere"
    assert data_root(tmp_path / "x") == tmp_path / "x"


def test_embedded_works_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CODECBENCH_DATA", str(tmp_path / "empty"))

    def no_network(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    ds = get_dataset()
    assert ds.name == "embedded" and len(ds) >= 5
    assert ds.ids()[:3] == ["astronaut", "chelsea", "coffee"]
    for item in ds:
        image = item.load()
        assert image.dtype == np.uint8
        assert image.ndim == 3
        assert image.shape[2] == 3
        assert min(image.shape[:2]) >= 256
        assert item.path is not None and item.path.is_file()
    gray = get_dataset("embedded:gray", max_images=2)
    assert gray.name == "embedded:gray" and len(gray) == 2
    g = gray[0].load()
    assert g.shape[2] == 1 and np.array_equal(g, to_gray(ds[0].load()))
    assert is_available("embedded")
    assert verify("embedded") == []
    assert len(fetch("embedded")) == len(ds)


# ----------------------------------------------------------------------------- real data


@needs_real
def test_kodak_real(real):
    ds = get_dataset("kodak")
    assert isinstance(ds, Dataset)
    assert ds.name == "kodak"
    assert len(ds) == 24
    assert ds.ids() == [f"kodim{i:02d}" for i in range(1, 25)]
    for item in ds:
        image = item.load()
        assert image.dtype == np.uint8 and image.shape in ((512, 768, 3), (768, 512, 3)), item.id
    assert is_available("kodak")


@needs_real
def test_kodak_gray_and_max_images(real):
    ds = get_dataset("kodak:gray", max_images=3)
    assert ds.name == "kodak:gray"
    assert ds.gray
    assert len(ds) == 3
    assert ds.total_images == 24
    assert ds.ids() == ["kodim01", "kodim02", "kodim03"]
    item = ds[0]
    g = item.load()
    assert g.shape == (512, 768, 1) and g.dtype == np.uint8
    assert np.array_equal(g, load_image(item.path, gray=True))
    assert np.array_equal(g, to_gray(get_dataset("kodak", max_images=1)[0].load()))


@needs_real
def test_bsd300_real(real):
    ds = get_dataset("bsd300")
    assert len(ds) == 100 and ds.ids()[:3] == ["3096", "8023", "12084"]
    assert ds.ids() == sorted(ds.ids(), key=int)
    shapes = [item.load().shape for item in ds]
    assert shapes.count((321, 481, 3)) == 77 and shapes.count((481, 321, 3)) == 23
    gray = get_dataset("bsd300:gray", max_images=5)
    assert [item.load().shape[2] for item in gray] == [1] * 5


@needs_real
def test_cifar10_real_order_and_sources(real):
    ds = get_dataset("cifar10")
    assert len(ds) == 10_000 and "PNG export" in ds.source
    ids = ds.ids()
    assert ids[0] == "00000"
    assert ids[42] == "00042"
    assert ids[-1] == "09999"
    assert ds.paths()[0].name == "0_cat.png" and ds.paths()[1].name == "1_ship.png"
    # The same images, in the same order, from the official pickle layout (first 932 images).
    with pytest.warns(DatasetWarning):
        refs, loader, _ = Cifar10().refs(real, "partial")
    assert len(refs) == 932 and [r[0] for r in refs] == ids[:932]
    assert np.array_equal(loader(refs[0][2], False), ds[0].load())
    for i in range(1, 932, 31):
        assert np.array_equal(loader(refs[i][2], False), ds[i].load()), i
    batch = read_batch(real / "cifar10" / "test_batch_partial")
    assert batch.count == 932 and "".join(map(str, batch.labels)) == Cifar10.labels[:932]
    gray = get_dataset("cifar10:gray", max_images=4)
    assert [item.load().shape for item in gray] == [(32, 32, 1)] * 4


@needs_real
def test_cifar10_streams_without_holding_pixels(real):
    ds = get_dataset("cifar10")
    assert not any(isinstance(v, np.ndarray) for v in vars(ds).values())
    count = 0
    for item in ds:  # all 10,000 items, no pixels loaded
        assert isinstance(item, DatasetItem)
        assert not any(isinstance(a, np.ndarray) for a in item.load.args)
        count += 1
    assert count == 10_000
    first = get_dataset("cifar10", max_images=1000)
    tracemalloc.start()
    try:
        for item in first:
            item.load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"peak {peak} bytes while streaming 1000 images (3 MB if all were held)"


@needs_real
def test_cifar10_partial_pickle_alone_warns(real, tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    os.symlink(real / "cifar10" / "test_batch_partial", folder / "test_batch_partial")
    with pytest.warns(DatasetWarning, match="932 of 10,000"):
        ds = get_dataset("cifar10", root=tmp_path)
    assert len(ds) == 932 and ds.ids()[-1] == "00931"
    assert ds[0].path == folder / "test_batch_partial"
    assert ds[0].load().shape == (32, 32, 3)


# ----------------------------------------------------------------------------- offline messages and verification


def test_missing_dataset_offline_message(tmp_path):
    with pytest.raises(DatasetError) as exc:
        get_dataset("kodak", root=tmp_path)
    msg = str(exc.value)
    assert "24 missing" in msg
    assert "kodim01.png" in msg
    assert str(tmp_path / "kodak") in msg
    assert "download=True" in msg
    assert "codecbench datasets fetch kodak" in msg
    assert "CODECBENCH_DATA" in msg
    with pytest.raises(DatasetError, match="test_png"):
        get_dataset("cifar10", root=tmp_path)
    assert not is_available("bsd300", root=tmp_path)


def test_download_then_offline_reuse(tmp_path, server, fake_kodak):
    ds = get_dataset("kodak", root=tmp_path, download=True)
    assert ds.ids() == ["kodim01", "kodim02", "kodim03"] and len(server.requests) == 3
    assert ds[1].load().shape == (4, 6, 3)
    assert tree(tmp_path / "kodak") == ["kodim01.png", "kodim02.png", "kodim03.png"]
    server.close()  # present and verified: no network needed, with or without download=True
    assert len(get_dataset("kodak", root=tmp_path, download=True)) == 3
    fetched = fetch("kodak", root=tmp_path)
    assert fetched.name == "kodak"
    assert fetched.root == tmp_path / "kodak"
    assert len(fetched) == 3
    assert len(server.requests) == 3


def test_download_checksum_mismatch_deletes(tmp_path, server, fake_kodak):
    server.files["/kodak/kodim02.png"] = png_bytes(99)
    with pytest.raises(DatasetError, match="checksum mismatch, the download was deleted"):
        get_dataset("kodak", root=tmp_path, download=True)
    assert tree(tmp_path / "kodak") == ["kodim01.png", "kodim03.png"]  # no temporary or bad file left


def test_interrupted_download_leaves_nothing(tmp_path, server, fake_kodak):
    server.truncate.add("/kodak/kodim03.png")
    with pytest.raises(DatasetError, match="kodim03.png.*download failed, nothing was kept") as exc:
        fetch("kodak", root=tmp_path)
    print(exc.value)
    assert tree(tmp_path / "kodak") == ["kodim01.png", "kodim02.png"]
    with pytest.raises(DatasetError, match="1 missing"):
        get_dataset("kodak", root=tmp_path)


def test_corrupt_present_file_detected_and_replaced(tmp_path, server, fake_kodak, caplog):
    get_dataset("kodak", root=tmp_path, download=True)  # verified, marker written
    bad = tmp_path / "kodak" / "kodim02.png"
    data = bytearray(bad.read_bytes())
    data[-20] ^= 0xFF  # same size; the marker's stat check catches the change
    bad.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as exc:
        get_dataset("kodak", root=tmp_path)
    assert "1 corrupt" in str(exc.value) and "kodim02.png: sha256 mismatch" in str(exc.value)
    assert verify("kodak", root=tmp_path) == [f"kodim02.png: corrupt (sha256 mismatch: expected {fake_kodak_hash(fake_kodak, 'kodim02.png')}, got {sha256(bytes(data))})"]
    with caplog.at_level(logging.WARNING, logger="codecbench.datasets"):
        ds = get_dataset("kodak", root=tmp_path, download=True)
    assert "deleted" in caplog.text and "kodim02.png" in caplog.text
    assert bad.read_bytes() == fake_kodak["kodim02.png"] and len(ds) == 3


def fake_kodak_hash(files, name):
    return sha256(files[name])


def test_verified_marker_skips_rehash(tmp_path, server, fake_kodak, monkeypatch):
    get_dataset("kodak", root=tmp_path, download=True)
    from codecbench.datasets import _store

    calls = []
    real_digest = _store.file_digest
    monkeypatch.setattr(_store, "file_digest", lambda p, a: calls.append(p) or real_digest(p, a))
    get_dataset("kodak", root=tmp_path)
    assert calls == []  # unchanged files: stat only
    os.utime(tmp_path / "kodak" / "kodim01.png", ns=(1, 1))
    get_dataset("kodak", root=tmp_path)
    assert len(calls) == 3  # any change: full check
    verify("kodak", root=tmp_path)
    assert len(calls) == 6  # verify always checks in full


# ----------------------------------------------------------------------------- archives


def test_bsd300_archive_download_and_install(tmp_path, server, fake_bsd):
    images, serve = fake_bsd
    serve()
    assert fetch("bsd300:gray", root=tmp_path).name == "bsd300:gray"
    assert tree(tmp_path / "bsd300") == ["test", "test/12084.jpg", "test/3096.jpg", "test/8023.jpg"]  # archive gone
    ds = get_dataset("bsd300", root=tmp_path)
    assert ds.ids() == list(BSD_IDS)


@pytest.mark.parametrize(
    "member, match",
    [
        (("../escape.jpg", b"evil"), "'../escape.jpg'"),
        (("BSDS300/../../escape.jpg", b"evil"), "escape.jpg"),
        (("/tmp/codecbench-abs-escape.jpg", b"evil"), "absolute"),
        (("BSDS300/images/test/link.jpg", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}), "link.jpg"),
        (("BSDS300/images/link2", {"type": tarfile.SYMTYPE, "linkname": "../../../outside"}), "link2"),
        (("BSDS300/images/hard", {"type": tarfile.LNKTYPE, "linkname": "../../outside"}), "hard"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-abs", "symlink-rel", "hardlink"],
)
def test_unsafe_archive_refused(tmp_path, server, fake_bsd, member, match):
    _, serve = fake_bsd
    serve(extra=[member])
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="unsafe") as exc:
        fetch("bsd300", root=root)
    assert match in str(exc.value) and "deleted" in str(exc.value)
    assert tree(root / "bsd300") == []  # nothing installed, archive deleted, no temporary folder left
    assert not (tmp_path / "escape.jpg").exists() and not (root / "escape.jpg").exists()
    assert not Path("/tmp/codecbench-abs-escape.jpg").exists()
    assert not is_available("bsd300", root=root)


def _pax_bomb() -> tuple[str, dict]:
    """A member whose pax header holds 8 MiB (tarfile reads a pax header whole, before the member)."""
    return "BSDS300/images/notes.txt", {"pax_headers": {"comment": "x" * (8 << 20)}}


@pytest.mark.parametrize("hostile, expected", [
    ("wanted", "uncompressed"),  # a wanted image of 8 MiB: the 1 MB archive that wrote 1 GiB, scaled down
    ("unwanted", "uncompressed"),  # an 8 MiB member beside the images
    ("pax", "uncompressed"),  # 8 MiB in a pax header
    ("wrong bytes", "corrupt"),  # a wanted image of the right size class but other bytes
])
def test_a_hostile_archive_writes_no_unverified_byte(tmp_path, server, fake_bsd, monkeypatch, hostile, expected):
    images, _ = fake_bsd
    monkeypatch.setattr(SOURCES["bsd300"], "archive_max_bytes", 1 << 20, raising=False)
    monkeypatch.setattr("shutil.rmtree", lambda *a, **k: None)  # keep the extraction folder to inspect it
    entries = [(f"BSDS300/images/{rel}", data) for rel, data in images.items()]
    if hostile == "wanted":
        entries[0] = (entries[0][0], bytes(8 << 20))
    elif hostile == "unwanted":
        entries.append(("BSDS300/images/train/huge.jpg", bytes(8 << 20)))
    elif hostile == "wrong bytes":
        entries[0] = (entries[0][0], entries[0][1][::-1])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        if hostile == "pax":
            name, info = _pax_bomb()
            member = tarfile.TarInfo(name)
            member.pax_headers = info["pax_headers"]
            tar.addfile(member, io.BytesIO(b""))
        for name, data in entries:
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    server.files["/BSDS300-images.tgz"] = buf.getvalue()
    assert len(buf.getvalue()) < 100_000  # a small archive
    with pytest.raises(DatasetError, match=expected) as exc:
        fetch("bsd300", root=tmp_path)
    assert "deleted" in str(exc.value)
    written = [p for p in (tmp_path / "bsd300").rglob("*") if p.is_file()]
    assert all(p.read_bytes() in images.values() for p in written), [(p, p.stat().st_size) for p in written]
    assert not (tmp_path / "bsd300" / "test").exists()  # nothing installed


def test_archive_missing_member_installs_nothing(tmp_path, server, fake_bsd):
    _, serve = fake_bsd
    serve(drop="test/8023.jpg")
    with pytest.raises(DatasetError, match=r"1 missing \(test/8023.jpg\)"):
        fetch("bsd300", root=tmp_path)
    assert tree(tmp_path / "bsd300") == []


def test_truncated_archive_refused(tmp_path, server, fake_bsd):
    _, serve = fake_bsd
    data = serve()
    server.files["/BSDS300-images.tgz"] = data[: len(data) // 2]  # complete HTTP transfer of half an archive
    with pytest.raises(DatasetError, match="truncated or corrupt.*deleted"):
        fetch("bsd300", root=tmp_path)
    assert tree(tmp_path / "bsd300") == []


def test_partial_extraction_not_mistaken_for_complete(tmp_path, fake_bsd):
    images, _ = fake_bsd
    folder = tmp_path / "bsd300"
    (folder / "test").mkdir(parents=True)
    (folder / "test" / "3096.jpg").write_bytes(images["test/3096.jpg"])
    stale = folder / ".extract-killed" / "BSDS300" / "images" / "test"  # a killed fetch's leftovers
    stale.mkdir(parents=True)
    for rel, data in images.items():
        (stale / Path(rel).name).write_bytes(data)
    with pytest.raises(DatasetError, match="2 missing"):
        get_dataset("bsd300", root=tmp_path)


def cifar_pickle(images: np.ndarray, labels: list[int], protocol: int = 4) -> bytes:
    n = len(images)
    data = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    return pickle.dumps(
        {"batch_label": "testing batch 1 of 1", "labels": labels, "data": data,
         "filenames": [f"img_{i}.png" for i in range(n)]},
        protocol=protocol,
    )


def test_cifar10_download_official_layout(tmp_path, server, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    batch = cifar_pickle(images, [3, 8, 8, 0, 6])
    meta = pickle.dumps({"label_names": list(Cifar10.classes)})
    archive = make_tar([("cifar-10-batches-py/batches.meta", meta), ("cifar-10-batches-py/test_batch", batch),
                        ("cifar-10-batches-py/data_batch_1", b"unused")])
    server.files["/cifar-10-python.tar.gz"] = archive
    src = SOURCES["cifar10"]
    monkeypatch.setattr(src, "urls", (server.url + "/cifar-10-python.tar.gz",))
    monkeypatch.setattr(src, "archive_hash", "md5:" + "0" * 32)
    with pytest.raises(DatasetError, match="checksum mismatch, the download was deleted"):
        get_dataset("cifar10", root=tmp_path, download=True)
    assert tree(tmp_path / "cifar10") == []
    monkeypatch.setattr(src, "archive_hash", "md5:" + md5(archive))
    monkeypatch.setattr(src, "pickle_hash", "md5:" + md5(batch))
    monkeypatch.setattr(src, "meta_hash", "md5:" + md5(meta))
    ds = get_dataset("cifar10", root=tmp_path, download=True)
    assert "official pickle" in ds.source and ds.ids() == ["00000", "00001", "00002", "00003", "00004"]
    assert all(np.array_equal(item.load(), images[i]) for i, item in enumerate(ds))
    assert np.array_equal(get_dataset("cifar10:gray", root=tmp_path)[2].load(), to_gray(images[2]))
    assert tree(tmp_path / "cifar10") == ["cifar-10-batches-py", "cifar-10-batches-py/batches.meta",
                                          "cifar-10-batches-py/test_batch"]
    # A corrupted official pickle is an error, not silently replaced by another source.
    (tmp_path / "cifar10" / "test_png").mkdir()
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").write_bytes(batch[:-10] + b"0123456789")
    with pytest.raises(DatasetError, match="test_batch: md5 mismatch"):
        get_dataset("cifar10", root=tmp_path)


def test_cifar_pickle_reader(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "batch"
    path.write_bytes(cifar_pickle(images, [1, 2, 3]))
    batch = read_batch(path)
    assert batch.count == 3 and batch.labels == (1, 2, 3)
    path.write_bytes(cifar_pickle(images, [1, 2]))
    with pytest.raises(DatasetError, match="inconsistent"):
        read_batch(path)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetError):
        read_batch(path)
    path.write_bytes(pickle.dumps({"labels": [1], "data": "x" * 3072}))
    with pytest.raises(DatasetError):
        read_batch(path)


def test_cifar_png_export_checks(tmp_path, monkeypatch):
    """A PNG export is checked for structure, labels and decoded pixels (synthetic 3-image test set)."""
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    src = SOURCES["cifar10"]
    monkeypatch.setattr(src, "labels", "380")  # cat, ship, airplane
    monkeypatch.setattr(src, "pixels_sha256", sha256(images.tobytes()))
    png = tmp_path / "cifar10" / "test_png"
    for i, cls in enumerate(("cat", "ship", "airplane")):
        (png / cls).mkdir(parents=True)
        Image.fromarray(images[i]).save(png / cls / f"{i}_{cls}.png")
    ds = get_dataset("cifar10", root=tmp_path)
    assert ds.ids() == ["00000", "00001", "00002"] and np.array_equal(ds[1].load(), images[1])
    (png / "ship" / "1_ship.png").rename(png / "cat" / "1_cat.png")
    with pytest.raises(DatasetError, match="image 1 is a ship, not a cat"):
        get_dataset("cifar10", root=tmp_path)
    (png / "cat" / "1_cat.png").rename(png / "ship" / "1_ship.png")
    altered = images[2].copy()
    altered[0, 0, 0] ^= 1
    Image.fromarray(altered).save(png / "airplane" / "2_airplane.png")
    with pytest.raises(DatasetError, match="decoded pixels"):
        get_dataset("cifar10", root=tmp_path)


# ----------------------------------------------------------------------------- folders and bad images


def test_folder_dataset_order_ids_and_bad_files(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    for name in ("img10.png", "img2.png", "sub/a.png", "dup.png", "dup.jpg", ".hidden/x.png", ".y.png"):
        (folder / name).write_bytes(png_bytes(len(name)))
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(b"definitely not a jpeg")
    (folder / "trunc.png").write_bytes(png_bytes(7, size=(64, 64))[:100])
    ds = get_dataset(f"folder:{folder}")
    assert ds.name == f"folder:{folder}"
    assert ds.ids() == ["dup.jpg", "dup.png", "empty", "garbage", "img2", "img10", "sub/a", "trunc"]
    assert ds.paths()[-2] == folder / "sub" / "a.png"
    results = {}
    for item in ds:  # a bad file never stops iteration: its load() raises ImageError naming it
        try:
            results[item.id] = item.load().shape
        except ImageError as exc:
            assert item.path.name in str(exc)
            results[item.id] = "error"
    assert [k for k, v in results.items() if v == "error"] == ["empty", "garbage", "trunc"]
    assert results["img2"] == (4, 6, 3)
    gray = get_dataset(f"folder:{folder}:gray", max_images=1)
    assert gray.name == f"folder:{folder}:gray" and gray[0].load().shape == (4, 6, 1)
    item = pickle.loads(pickle.dumps(ds[4]))  # items can go to worker processes
    assert item.id == "img2" and item.load().shape == (4, 6, 3)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        get_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="no image files"):
        get_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(DatasetError, match="needs a path"):
        get_dataset("folder:")


def test_folder_of_large_images_streams(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (1000, 1500, 3), dtype=np.uint8)).save(tmp_path / f"{i}.jpg", quality=50)
    one = 1000 * 1500 * 3
    ds = get_dataset(f"folder:{tmp_path}")
    tracemalloc.start()
    try:
        for item in ds:
            assert item.load().shape == (1000, 1500, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * one, f"peak {peak} bytes for 5 images of {one} bytes"
