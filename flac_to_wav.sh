#!/usr/bin/env bash
# Convert every .flac below a folder to a 16 kHz mono 16-bit PCM .wav beside it.
#
#   ./flac_to_wav.sh data/LibriSpeech
#   cd data/LibriSpeech && ../../flac_to_wav.sh      # no argument: the current folder
#
# Uses ffmpeg if it is on PATH, else sox, else python3 with soundfile and scipy (resampling with
# scipy.signal.resample_poly when the rate is not 16 kHz; several channels are averaged). Each WAV
# is written to a hidden temporary file in the same folder and renamed when complete, so an
# interrupted run leaves no half-written .wav. A .wav that exists and is not older than its .flac
# is skipped, so re-running only converts what is new. Paths with spaces, newlines or non-ASCII
# characters are fine. Set PYTHON to use another interpreter for the fallback.
#
# Exit status: 0 when every file converted (or was up to date), 1 when DIR is missing, no
# converter is available or some file failed (each named on stderr), 2 for wrong usage.

set -euo pipefail

readonly TARGET_RATE_HZ=16000
readonly PROG=${0##*/}

if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "usage: $PROG [DIR]   (convert every .flac below DIR, default the current folder, to a ${TARGET_RATE_HZ} Hz mono 16-bit .wav)" >&2
    [ $# -eq 1 ] && exit 0
    exit 2
fi
dir=${1:-.}  # no argument: the current folder, as the original was run from inside LibriSpeech/
if [ ! -d "$dir" ]; then
    echo "$PROG: $dir: no such folder" >&2
    exit 1
fi
case $dir in
    /*) ;;
    *) dir=./$dir ;;  # no path may start with '-' and be taken for an option
esac

python=${PYTHON:-python3}
if command -v ffmpeg >/dev/null 2>&1; then
    tool=ffmpeg
elif command -v sox >/dev/null 2>&1; then
    tool=sox
elif command -v "$python" >/dev/null 2>&1 && "$python" -c 'import soundfile, scipy.signal' 2>/dev/null; then
    tool=python
else
    echo "$PROG: no converter: install ffmpeg or sox, or give $python the soundfile and scipy packages" >&2
    exit 1
fi

# Files to convert: a .wav that is missing or older than its .flac.
todo=()
skipped=0
while IFS= read -r -d '' flac; do
    wav=${flac%.*}.wav
    if [ -e "$wav" ] && ! [ "$flac" -nt "$wav" ]; then
        skipped=$((skipped + 1))
    else
        todo+=("$flac")
    fi
done < <(find "$dir" -type f -name '*.flac' -print0 | sort -z)

tmp=
cleanup() { if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

converted=0
failed=0
if [ ${#todo[@]} -gt 0 ]; then
    echo "$PROG: converting ${#todo[@]} file(s) with $tool" >&2
fi
if [ ${#todo[@]} -gt 0 ] && [ "$tool" = python ]; then
    # One interpreter for all files: NUL-separated paths on stdin, "CONVERTED FAILED" on stdout.
    counts=$(printf '%s\0' "${todo[@]}" | "$python" -c '
import os, sys
from math import gcd

import numpy as np
import soundfile
from scipy.signal import resample_poly

rate_hz, prog = int(sys.argv[1]), sys.argv[2]
converted = failed = 0
for raw in sys.stdin.buffer.read().split(b"\0"):
    if not raw:
        continue
    src = os.fsdecode(raw)
    dst = os.path.splitext(src)[0] + ".wav"
    tmp = os.path.join(os.path.dirname(dst), "." + os.path.basename(dst) + ".%d.part" % os.getpid())
    try:
        audio, src_rate = soundfile.read(src, dtype="float64", always_2d=True)
        if audio.shape[0] == 0:
            raise ValueError("no samples")
        mono = audio.mean(axis=1)
        if src_rate != rate_hz:
            g = gcd(int(src_rate), rate_hz)
            mono = resample_poly(mono, rate_hz // g, int(src_rate) // g)
        soundfile.write(tmp, np.clip(mono, -1.0, 1.0), rate_hz, subtype="PCM_16", format="WAV")
        os.replace(tmp, dst)
        converted += 1
    except Exception as exc:
        failed += 1
        print(f"{prog}: {src}: {exc}", file=sys.stderr)
        if os.path.exists(tmp):
            os.remove(tmp)
print(converted, failed)
' "$TARGET_RATE_HZ" "$PROG") || true
    if [[ $counts =~ ^([0-9]+)\ ([0-9]+)$ ]]; then
        converted=${BASH_REMATCH[1]}
        failed=${BASH_REMATCH[2]}
    else
        echo "$PROG: $python stopped before finishing; re-run to convert the rest" >&2
        failed=$((${#todo[@]}))
    fi
elif [ ${#todo[@]} -gt 0 ]; then
    for flac in "${todo[@]}"; do
        wav=${flac%.*}.wav
        folder=${wav%/*}
        tmp=$folder/.${wav##*/}.$$.part
        if [ "$tool" = ffmpeg ]; then
            ffmpeg -nostdin -hide_banner -loglevel error -y -i "file:$flac" \
                -ac 1 -ar "$TARGET_RATE_HZ" -c:a pcm_s16le -f wav "file:$tmp" && ok=1 || ok=0
        else
            sox -q -G "$flac" -t wav -r "$TARGET_RATE_HZ" -c 1 -b 16 -e signed-integer "$tmp" && ok=1 || ok=0
        fi
        if [ $ok -eq 1 ] && mv -f -- "$tmp" "$wav"; then
            converted=$((converted + 1))
        else
            echo "$PROG: $flac: $tool failed" >&2
            rm -f -- "$tmp"
            failed=$((failed + 1))
        fi
        tmp=
    done
fi

echo "$PROG: converted $converted, skipped $skipped (up to date), failed $failed, with $tool" >&2
[ $failed -eq 0 ]
