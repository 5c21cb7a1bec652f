#!/usr/bin/env bash
# Real text for tests and benchmarks, from Debian packages, into .cache/corpus/.
#   scripts/fetch-corpus.sh            jargon.txt (1.7 MB; the tests need it)
#   scripts/fetch-corpus.sh --bench    also gcide.txt and wordnet.txt (about 70 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/corpus
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() { # package
  (cd "$work" && apt-get download "$1" >/dev/null 2>&1) || {
    # apt's package lists may be missing on a fresh machine
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$work" && apt-get download "$1" >/dev/null)
  }
  dpkg-deb -x "$work"/"$1"_*.deb "$work/x"
}

if [ ! -s "$out/jargon.txt" ]; then
  fetch jargon-text
  zcat "$work/x/usr/share/doc/jargon-text/jargon.txt.gz" > "$out/jargon.txt.tmp" && mv "$out/jargon.txt.tmp" "$out/jargon.txt"
fi
if [ "${1:-}" = "--bench" ]; then
  if [ ! -s "$out/gcide.txt" ]; then
    fetch dict-gcide
    zcat "$work/x/usr/share/dictd/gcide.dict.dz" > "$out/gcide.txt.tmp" && mv "$out/gcide.txt.tmp" "$out/gcide.txt"
  fi
  if [ ! -s "$out/wordnet.txt" ]; then
    fetch wordnet-base
    cat "$work"/x/usr/share/wordnet/data.* > "$out/wordnet.txt.tmp" && mv "$out/wordnet.txt.tmp" "$out/wordnet.txt"
  fi
fi
ls -l "$out"
