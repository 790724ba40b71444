"""vui.download against a local HTTP server: download, resume, checksum, safe unpack.

Everything is served from 127.0.0.1 by a ThreadingHTTPServer in a thread; nothing reaches the
internet. The server supports ``Range: bytes=N-``, can be told to ignore Range, and can cut the
connection after a number of bytes of the next response.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vui import download as dl  # noqa: E402

SAMPLE_RATE_HZ = 16000
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

# speaker -> chapter -> [(utterance number, transcript, duration in seconds)]
LAYOUT = {
    "dev-clean": {"84": {"121123": [(0, "GO DO YOU HEAR", 0.5), (1, "BUT IN LESS THAN FIVE MINUTES", 0.75)]},
                  "174": {"50561": [(0, "FORGOTTEN TOO THE NAME OF GILLIAN", 0.6)]}},
    "test-clean": {"1089": {"134686": [(0, "HE HOPED THERE WOULD BE STEW", 0.4)]}},
}


def make_tarball(subset: str, extra_bytes: int = 0) -> bytes:
    """A LibriSpeech-layout .tar.gz of short sine/noise FLACs; `extra_bytes` of noise pad it out."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("LibriSpeech/README.TXT", b"test corpus\n")
        for speaker, chapters in LAYOUT[subset].items():
            for chapter, utterances in chapters.items():
                folder = f"LibriSpeech/{subset}/{speaker}/{chapter}"
                lines = []
                for number, text, duration_s in utterances:
                    utt = f"{speaker}-{chapter}-{number:04d}"
                    t = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
                    audio = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(t.size)
                    flac = io.BytesIO()
                    soundfile.write(flac, audio, SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
                    add(f"{folder}/{utt}.flac", flac.getvalue())
                    lines.append(f"{utt} {text}\n")
                add(f"{folder}/{speaker}-{chapter}.trans.txt", "".join(lines).encode())
        if extra_bytes:
            add(f"LibriSpeech/{subset}/padding.bin", rng.integers(0, 256, extra_bytes, dtype=np.uint8).tobytes())
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    """Serves server.files; honours ``Range: bytes=N-`` unless server.ignore_range is set."""

    def log_message(self, *args: object) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        data = server.files.get(self.path.rsplit("/", 1)[-1])
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not server.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_after is not None:
            body, server.cut_after = body[: server.cut_after], None  # cut this response only
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.requests, httpd.cut_after, httpd.ignore_range = {}, [], None, False
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/resources/12/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def fetch(server, dest: Path, name: str = "dev-clean", **kwargs) -> str:
    """fetch_subset against the local server, quietly and without automatic retries by default."""
    kwargs.setdefault("md5_table", {f.removesuffix(".tar.gz"): md5(data) for f, data in server.files.items()})
    kwargs.setdefault("retries", 0)
    kwargs.setdefault("retry_wait_s", 0.0)
    kwargs.setdefault("timeout_s", 10.0)
    return dl.fetch_subset(name, str(dest), server.base_url, progress=False, **kwargs)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_md5_table_covers_every_subset() -> None:
    assert set(dl.SUBSET_MD5) == set(dl.SUBSET_BYTES) == set(dl.SUBSETS)
    assert dl.SUBSET_MD5["dev-clean"] == "42e2234ba48799c1f50f24a7926300a1"
    assert all(len(s) == 32 and int(s, 16) >= 0 for s in dl.SUBSET_MD5.values())
    assert dl.subset_url("dev-clean", "https://us.openslr.org/resources/12") == (
        "https://us.openslr.org/resources/12/dev-clean.tar.gz"
    )


def test_download_unpack_and_json(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server.files = {f"{n}.tar.gz": make_tarball(n) for n in ("dev-clean", "test-clean")}
    table = {n: md5(server.files[f"{n}.tar.gz"]) for n in ("dev-clean", "test-clean")}
    monkeypatch.chdir(tmp_path)
    argv = ["--dest", "data", "--base-url", server.base_url, "--quiet", "--retries", "0"]
    assert dl.main(argv, md5_table=table) == 0

    for name in ("dev-clean", "test-clean"):
        assert (tmp_path / "data" / f"{name}.tar.gz").read_bytes() == server.files[f"{name}.tar.gz"]
        assert not (tmp_path / "data" / f"{name}.tar.gz.part").exists()
        assert (tmp_path / "data" / "LibriSpeech" / name / dl.COMPLETE_MARKER).exists()
    train = read_lines(tmp_path / "train_corpus.json")
    valid = read_lines(tmp_path / "valid_corpus.json")
    assert sorted(e["text"] for e in train) == [
        "but in less than five minutes", "forgotten too the name of gillian", "go do you hear"
    ]
    assert [e["text"] for e in valid] == ["he hoped there would be stew"]
    assert all(os.path.exists(e["key"]) and e["key"].startswith("data/LibriSpeech/dev-clean/") for e in train)
    assert sorted(e["duration"] for e in train) == [0.5, 0.6, 0.75]

    # A second run downloads and unpacks nothing, and still writes the corpus files.
    requests = len(server.requests)
    os.remove("train_corpus.json")
    assert dl.main(argv + ["--valid"], md5_table=table) == 0
    assert len(server.requests) == requests
    assert len(read_lines(tmp_path / "train_corpus.json")) == 3


def test_train_and_valid_combine_several_subsets(server, tmp_path: Path) -> None:
    server.files = {f"{n}.tar.gz": make_tarball(n) for n in ("dev-clean", "test-clean")}
    table = {n: md5(server.files[f"{n}.tar.gz"]) for n in ("dev-clean", "test-clean")}
    written = dl.prepare(
        str(tmp_path / "data"), train=["dev-clean", "test-clean"], valid=[], base_url=server.base_url,
        md5_table=table, train_json=str(tmp_path / "train.json"), valid_json=str(tmp_path / "valid.json"),
        progress=False, retries=0,
    )
    assert written == {str(tmp_path / "train.json"): 4}
    assert not (tmp_path / "valid.json").exists()


def test_checksum_mismatch_deletes_the_download(server, tmp_path: Path) -> None:
    server.files = {"dev-clean.tar.gz": make_tarball("dev-clean")}
    wrong = "0" * 32
    with pytest.raises(dl.ChecksumError) as info:
        fetch(server, tmp_path, md5_table={"dev-clean": wrong})
    message = str(info.value)
    assert "dev-clean.tar.gz" in message and wrong in message and md5(server.files["dev-clean.tar.gz"]) in message
    assert os.listdir(tmp_path) == []  # no .part, no archive, nothing unpacked


def test_resume_after_a_cut_connection(server, tmp_path: Path) -> None:
    data = make_tarball("dev-clean", extra_bytes=200_000)
    server.files = {"dev-clean.tar.gz": data}
    server.cut_after = len(data) // 2
    part = tmp_path / "dev-clean.tar.gz.part"
    with pytest.raises(dl.DownloadError, match="run again to resume") as info:
        fetch(server, tmp_path)
    assert server.base_url + "dev-clean.tar.gz" in str(info.value)
    kept = part.stat().st_size
    assert 0 < kept < len(data) and part.read_bytes() == data[:kept]
    assert not (tmp_path / "dev-clean.tar.gz").exists()

    fetch(server, tmp_path)
    assert server.requests[-1] == ("/resources/12/dev-clean.tar.gz", f"bytes={kept}-")
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == data
    assert not part.exists()
    assert (tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123" / "84-121123.trans.txt").exists()


def test_automatic_retry_resumes_in_the_same_call(server, tmp_path: Path) -> None:
    data = make_tarball("dev-clean", extra_bytes=100_000)
    server.files = {"dev-clean.tar.gz": data}
    server.cut_after = 1000
    fetch(server, tmp_path, retries=1)
    assert [r[1] for r in server.requests] == [None, "bytes=1000-"]
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == data


def test_server_that_ignores_range_restarts(server, tmp_path: Path) -> None:
    data = make_tarball("dev-clean")
    server.files = {"dev-clean.tar.gz": data}
    server.ignore_range = True
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(b"stale bytes that are not the archive")
    fetch(server, tmp_path)
    assert server.requests[-1][1] is not None  # it asked for a range, got the whole file
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == data


def test_complete_part_file_is_verified_not_refetched(server, tmp_path: Path) -> None:
    data = make_tarball("dev-clean")
    server.files = {"dev-clean.tar.gz": data}
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(data)
    fetch(server, tmp_path)  # the server answers 416 to bytes=len-
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == data


def test_http_error_names_the_url(server, tmp_path: Path) -> None:
    with pytest.raises(dl.DownloadError, match=r"dev-other\.tar\.gz: HTTP error 404"):
        fetch(server, tmp_path, name="dev-other", md5_table={})
    assert os.listdir(tmp_path) == []


def test_unreachable_server_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/resources/12/"
    with pytest.raises(dl.DownloadError, match=f"{url}dev-clean.tar.gz: cannot connect"):
        dl.fetch_subset("dev-clean", str(tmp_path), url, progress=False, retries=0, timeout_s=5.0)


def _tarball_with(tmp_path: Path, member: tarfile.TarInfo) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("LibriSpeech/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        tar.addfile(member, io.BytesIO(b"x" * member.size))
    return path


@pytest.mark.parametrize(
    "name, kind, linkname",
    [
        ("../evil.txt", tarfile.REGTYPE, ""),
        ("LibriSpeech/../../evil.txt", tarfile.REGTYPE, ""),
        ("/tmp/evil.txt", tarfile.REGTYPE, ""),
        ("LibriSpeech/link", tarfile.SYMTYPE, "../../evil.txt"),
        ("LibriSpeech/link", tarfile.SYMTYPE, "/etc/passwd"),
    ],
)
def test_unsafe_members_are_refused(tmp_path: Path, name: str, kind: bytes, linkname: str) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = linkname
    member.size = 1 if kind == tarfile.REGTYPE else 0
    archive = _tarball_with(tmp_path, member)
    dest = tmp_path / "a" / "b"
    dest.mkdir(parents=True)
    with pytest.raises(dl.UnsafeArchiveError, match="refusing") as info:
        dl.safe_extract(str(archive), str(dest))
    assert name in str(info.value)
    assert not (tmp_path / "a" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (dest / "LibriSpeech" / "link").exists()


def test_safe_link_inside_the_folder_is_kept(tmp_path: Path) -> None:
    member = tarfile.TarInfo("LibriSpeech/link")
    member.type, member.linkname = tarfile.SYMTYPE, "ok.txt"
    dl.safe_extract(str(_tarball_with(tmp_path, member)), str(tmp_path / "out"))
    assert (tmp_path / "out" / "LibriSpeech" / "link").read_text() == "ok"
