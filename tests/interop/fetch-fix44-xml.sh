#!/usr/bin/env bash
# Fetches QuickFIX's FIX 4.4 data dictionary (spec/FIX44.xml of the
# quickfix source package on PyPI) into target/quickfix/, for the QuickFIX
# interop tests (tests/integration/quickfix.rs). Nothing is built: only
# the source archive is downloaded and the one file taken from it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/quickfix
[ -s "$out/FIX44.xml" ] && exit 0
mkdir -p "$out"
version=1.15.1
python3 -m pip download --quiet --no-deps --no-binary :all: "quickfix==$version" -d "$out"
tar -xzf "$out/quickfix-$version.tar.gz" -C "$out" --strip-components=2 "quickfix-$version/spec/FIX44.xml"
rm -f "$out/quickfix-$version.tar.gz"
ls -l "$out/FIX44.xml"
