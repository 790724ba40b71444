"""Download LibriSpeech from OpenSLR (resource 12), unpack it and write the corpus JSON files.

    python -m vui.download                      # dev-clean -> train, test-clean -> valid
    python -m vui.download --dest data --train dev-clean --valid test-clean
    python -m vui.download --train train-clean-100 dev-clean --valid test-clean
    python -m vui.download --subsets dev-other test-other --train --valid   # fetch only
    python -m vui.download --mirror us          # or --base-url https://us.openslr.org/resources/12/

Each subset is ``<base-url>/<name>.tar.gz``. It is downloaded to ``<dest>/<name>.tar.gz.part``
(an interrupted download resumes from where it stopped with an HTTP Range request; a server that
ignores Range makes it start again), checked against the MD5 sum OpenSLR publishes in
``md5sum.txt`` and only then renamed to ``<dest>/<name>.tar.gz``. The tarball is unpacked to
``<dest>/LibriSpeech/<name>/`` (members with absolute paths, ``..`` or links leaving the folder
are refused), and a ``.complete`` marker there makes later runs skip the download and the unpack.

Finally ``train_corpus.json`` is written from the ``--train`` subsets and ``valid_corpus.json``
from the ``--valid`` subsets (several per side are combined; an empty list writes no file), with
create_desc_json's scanner: one ``{"key", "duration", "text"}`` line per utterance. The FLAC files
are read directly; ``flac_to_wav.sh <dest>/LibriSpeech`` converts them to WAV first if preferred.

Sizes (archive, approximately): dev-clean 0.34 GB, dev-other 0.31 GB, test-clean 0.35 GB,
test-other 0.33 GB, train-clean-100 6.4 GB, train-clean-360 23 GB, train-other-500 31 GB; the
unpacked FLAC takes about the same again.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import posixpath
import sys
import tarfile
import time
import urllib.error
import urllib.request
from typing import Iterator, Mapping, Sequence

from tqdm import tqdm

from create_desc_json import scan_corpus, write_corpus

# MD5 sums of the archives, as published in https://www.openslr.org/resources/12/md5sum.txt
# (the same values are pinned in PaddlePaddle/PaddleSpeech data/librispeech/librispeech.py and in
# several other LibriSpeech loaders).
SUBSET_MD5: dict[str, str] = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
# Archive sizes in bytes (the final release's sizes listed in Kaldi's
# egs/librispeech/s5/local/download_and_untar.sh); used for the progress bar and the README.
SUBSET_BYTES: dict[str, int] = {
    "dev-clean": 337_926_286,
    "dev-other": 314_305_928,
    "test-clean": 346_663_984,
    "test-other": 328_757_843,
    "train-clean-100": 6_387_309_499,
    "train-clean-360": 23_049_477_885,
    "train-other-500": 30_593_501_606,
}
SUBSETS: tuple[str, ...] = tuple(SUBSET_MD5)

BASE_URL: str = "https://www.openslr.org/resources/12/"
MIRRORS: dict[str, str] = {
    "openslr": BASE_URL,
    "us": "https://us.openslr.org/resources/12/",
    "eu": "https://openslr.elda.org/resources/12/",
    "cn": "https://openslr.magicdatatech.com/resources/12/",
}
DEFAULT_TRAIN: tuple[str, ...] = ("dev-clean",)  # the original capstone's split
DEFAULT_VALID: tuple[str, ...] = ("test-clean",)

CHUNK_BYTES: int = 1 << 20  # read/write/hash block size
TIMEOUT_S: float = 60.0  # per socket operation
RETRIES: int = 3  # automatic resumes after a dropped connection, per file
RETRY_WAIT_S: float = 5.0  # pause before an automatic resume (doubles each time)
USER_AGENT: str = "vui-download-librispeech/1.0 (+urllib)"
COMPLETE_MARKER: str = ".complete"  # written into <dest>/LibriSpeech/<name>/ after unpacking


class DownloadError(RuntimeError):
    """A file could not be downloaded; the message names the URL and what went wrong."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the published MD5 sum (the file has been deleted)."""


class UnsafeArchiveError(ValueError):
    """A tarball holds a member that would land outside the folder it is unpacked into."""


class _Retryable(DownloadError):
    """A transient failure (dropped connection, timeout) after which a resume may succeed."""


def subset_url(name: str, base_url: str = BASE_URL) -> str:
    """URL of a subset's tarball below `base_url` (with or without a trailing slash)."""
    return base_url.rstrip("/") + "/" + name + ".tar.gz"


def file_md5(path: str, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex MD5 of a file, read in blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int, timeout_s: float) -> http.client.HTTPResponse:
    """GET `url`, asking for the bytes from `offset` on when resuming."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    # A fresh opener per request reads the proxy settings of the environment as they are now.
    return urllib.request.build_opener().open(request, timeout=timeout_s)


def _content_range_start(value: str | None) -> int | None:
    """First byte position of a ``Content-Range: bytes START-END/TOTAL`` header, or None."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _fetch_once(
    url: str, part: str, expected_bytes: int | None, progress: bool, timeout_s: float, chunk_bytes: int
) -> None:
    """One attempt at bringing `part` to the whole file, resuming from its current length."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response = _open(url, offset, timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the .part is already whole
            return
        raise DownloadError(f"{url}: HTTP error {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retryable(
            f"{url}: cannot connect ({reason}); check the network, or try a mirror "
            f"(--mirror us|eu|cn or --base-url)"
        ) from None
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if offset and response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                response.close()
                raise DownloadError(
                    f"{url}: asked for bytes from {offset}, server sent range "
                    f"{response.headers.get('Content-Range')!r}"
                )
            mode = "ab"
        else:
            if offset:
                print(f"{url}: server ignored the Range request; starting again from byte 0", file=sys.stderr)
            offset, mode = 0, "wb"
        total = offset + length if length is not None else expected_bytes
        received = 0
        with open(part, mode) as f, tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=os.path.basename(url),
            disable=not progress,
        ) as bar:
            try:
                while block := response.read(chunk_bytes):
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as exc:
                raise _Retryable(
                    f"{url}: connection lost after {offset + received} bytes ({exc!r}); "
                    f"{part} is kept, run again to resume"
                ) from None
    if length is not None and received < length:
        raise _Retryable(
            f"{url}: connection closed after {offset + received} of {offset + length} bytes; "
            f"{part} is kept, run again to resume"
        )


def download_file(url: str, path: str, expected_md5: str | None, *, expected_bytes: int | None = None,
                  retries: int = RETRIES, retry_wait_s: float = RETRY_WAIT_S, progress: bool = True,
                  timeout_s: float = TIMEOUT_S, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Download `url` to `path` through ``path + '.part'``, resuming a partial download.

    A dropped connection is resumed up to `retries` times in this call; after that the ``.part``
    stays for the next run. The finished file is checked against `expected_md5` (None: a warning,
    no check); on a mismatch the ``.part`` is deleted and ChecksumError names the file and both
    sums. `path` itself only ever appears complete and verified, so an existing `path` is kept.
    """
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    part = path + ".part"
    wait_s = retry_wait_s
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, expected_bytes, progress, timeout_s, chunk_bytes)
            break
        except _Retryable as exc:
            if attempt == retries:
                raise DownloadError(str(exc)) from None
            print(f"warning: {exc}; resuming in {wait_s:g} s", file=sys.stderr)
            time.sleep(wait_s)
            wait_s *= 2
    if expected_md5 is None:
        print(f"warning: no published MD5 sum known for {os.path.basename(path)}; not verified", file=sys.stderr)
    else:
        actual = file_md5(part, chunk_bytes)
        if actual != expected_md5.lower():
            os.remove(part)
            raise ChecksumError(
                f"{path}: MD5 mismatch (expected {expected_md5.lower()}, got {actual}) for {url}; "
                "the corrupt download was deleted, run again to fetch it anew"
            )
    os.replace(part, path)
    return path


def _check_member(member: tarfile.TarInfo, archive: str) -> tarfile.TarInfo:
    """Return `member` if it stays inside the extraction folder, else raise UnsafeArchiveError."""

    def escapes(name: str) -> bool:
        return (
            name.startswith(("/", "\\"))
            or os.path.isabs(name)
            or (len(name) > 1 and name[1] == ":")  # a Windows drive
            or ".." in name.replace("\\", "/").split("/")
        )

    if escapes(member.name):
        raise UnsafeArchiveError(f"{archive}: refusing member {member.name!r} (absolute path or '..')")
    if member.issym():
        # a relative target is fine while it stays below the folder once joined to the link's own
        target = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname))
        if escapes(target):  # also catches an absolute target, which join() keeps as is
            raise UnsafeArchiveError(
                f"{archive}: refusing link {member.name!r} -> {member.linkname!r} (points outside the folder)"
            )
    if member.islnk() and escapes(member.linkname):
        raise UnsafeArchiveError(f"{archive}: refusing hard link {member.name!r} -> {member.linkname!r}")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(f"{archive}: refusing special member {member.name!r} (device, FIFO, ...)")
    return member


def safe_extract(archive: str, dest: str) -> None:
    """Unpack a tarball into `dest`, refusing members that would land outside it.

    Every member is checked (absolute paths, ``..``, links out of the folder, device files) as it
    is reached, and tarfile's ``filter='data'`` checks again where this Python has it (3.11.4+).
    """
    with tarfile.open(archive, "r:*") as tar:

        def members() -> Iterator[tarfile.TarInfo]:
            for member in tar:
                yield _check_member(member, archive)

        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members(), filter="data")
        else:  # pragma: no cover - Python < 3.11.4; _check_member has done the same checks
            tar.extractall(dest, members=members())


def subset_dir(dest: str, name: str) -> str:
    """Folder a subset unpacks to: ``<dest>/LibriSpeech/<name>``."""
    return os.path.join(dest, "LibriSpeech", name)


def fetch_subset(name: str, dest: str, base_url: str = BASE_URL, md5_table: Mapping[str, str] = SUBSET_MD5, *,
                 keep_archive: bool = True, progress: bool = True, retries: int = RETRIES,
                 retry_wait_s: float = RETRY_WAIT_S, timeout_s: float = TIMEOUT_S) -> str:
    """Download, verify and unpack one subset unless already done; returns its folder."""
    folder = subset_dir(dest, name)
    marker = os.path.join(folder, COMPLETE_MARKER)
    if os.path.exists(marker):
        print(f"{name}: already unpacked in {folder}", file=sys.stderr)
        return folder
    url = subset_url(name, base_url)
    archive = os.path.join(dest, name + ".tar.gz")
    if os.path.exists(archive):
        print(f"{name}: using downloaded {archive}", file=sys.stderr)
    download_file(
        url,
        archive,
        md5_table.get(name),
        expected_bytes=SUBSET_BYTES.get(name),
        retries=retries,
        retry_wait_s=retry_wait_s,
        progress=progress,
        timeout_s=timeout_s,
    )
    print(f"{name}: unpacking {archive}", file=sys.stderr)
    safe_extract(archive, dest)
    if not os.path.isdir(folder):
        raise DownloadError(f"{archive}: did not contain LibriSpeech/{name}/ (not a LibriSpeech archive?)")
    with open(marker, "w", encoding="utf-8") as f:
        f.write(f"{url}\n")
    if not keep_archive:
        os.remove(archive)
    return folder


def build_corpus(folders: Sequence[str], output: str, progress: bool = True) -> int:
    """Write one JSON-lines corpus from the utterances of several LibriSpeech folders; returns its size."""
    entries: list[dict] = []
    for folder in folders:
        scan = scan_corpus(folder, progress=progress)
        for problem in scan.skipped:
            print(f"warning: skipped {problem}", file=sys.stderr)
        entries.extend(scan.entries)
    if not entries:
        raise ValueError(f"no usable utterances in {', '.join(folders)}")
    write_corpus(output, entries)
    return len(entries)


def prepare(
    dest: str = "data",
    subsets: Sequence[str] = (),
    train: Sequence[str] = DEFAULT_TRAIN,
    valid: Sequence[str] = DEFAULT_VALID,
    base_url: str = BASE_URL,
    md5_table: Mapping[str, str] = SUBSET_MD5,
    train_json: str = "train_corpus.json",
    valid_json: str = "valid_corpus.json",
    *,
    keep_archive: bool = True,
    progress: bool = True,
    retries: int = RETRIES,
    retry_wait_s: float = RETRY_WAIT_S,
    timeout_s: float = TIMEOUT_S,
) -> dict[str, int]:
    """Fetch `subsets` plus the `train` and `valid` ones, then write the two corpus files.

    Returns ``{json path: utterances written}``; an empty `train` or `valid` writes no file.
    """
    wanted = list(dict.fromkeys([*subsets, *train, *valid]))
    folders = {}
    for name in wanted:
        folders[name] = fetch_subset(
            name,
            dest,
            base_url,
            md5_table,
            keep_archive=keep_archive,
            progress=progress,
            retries=retries,
            retry_wait_s=retry_wait_s,
            timeout_s=timeout_s,
        )
    written = {}
    for names, output in ((train, train_json), (valid, valid_json)):
        if names:
            written[output] = build_corpus([folders[n] for n in names], output, progress=progress)
            print(f"wrote {written[output]} utterances from {', '.join(names)} to {output}", file=sys.stderr)
    return written


def main(argv: list[str] | None = None, md5_table: Mapping[str, str] = SUBSET_MD5) -> int:
    sizes = ", ".join(f"{n} {SUBSET_BYTES[n] / 1e9:.2g} GB" for n in SUBSETS)
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=f"Subsets (archive sizes): {sizes}."
    )
    parser.add_argument("--dest", default="data", help="folder for the archives and LibriSpeech/ (default: data)")
    parser.add_argument("--subsets", nargs="*", default=[], choices=SUBSETS, metavar="NAME",
                        help="subsets to fetch besides the --train and --valid ones")
    parser.add_argument("--train", nargs="*", default=list(DEFAULT_TRAIN), choices=SUBSETS, metavar="NAME",
                        help="subsets combined into the training corpus (default: dev-clean; none: no file)")
    parser.add_argument("--valid", nargs="*", default=list(DEFAULT_VALID), choices=SUBSETS, metavar="NAME",
                        help="subsets combined into the validation corpus (default: test-clean; none: no file)")
    parser.add_argument("--train-json", default="train_corpus.json", help="training corpus file to write")
    parser.add_argument("--valid-json", default="valid_corpus.json", help="validation corpus file to write")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--base-url", default=BASE_URL, help=f"where the tarballs are (default: {BASE_URL})")
    source.add_argument("--mirror", choices=sorted(MIRRORS), help="an OpenSLR mirror instead of --base-url")
    parser.add_argument("--remove-archives", action="store_true", help="delete each tarball once unpacked")
    parser.add_argument("--retries", type=int, default=RETRIES, help="automatic resumes per file after a drop")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.retries < 0:
        parser.error("--retries must be >= 0")
    overlap = sorted(set(args.train) & set(args.valid))
    if overlap:
        print(f"warning: {', '.join(overlap)} in both --train and --valid", file=sys.stderr)
    try:
        prepare(
            args.dest,
            args.subsets,
            args.train,
            args.valid,
            MIRRORS[args.mirror] if args.mirror else args.base_url,
            md5_table,
            args.train_json,
            args.valid_json,
            keep_archive=not args.remove_archives,
            progress=not args.quiet,
            retries=args.retries,
        )
    except (DownloadError, UnsafeArchiveError, ValueError, tarfile.TarError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
