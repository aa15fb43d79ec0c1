#!/bin/sh
# Regenerates the rehearsal page's documentation screenshots in reports/doc/:
# a 2017-season-sized report (426 kommuner, bokmål) and a 2026 dress rehearsal (English),
# rendered by headless Chromium (/usr/bin/chromium) through the coordinator_chromium test.
set -eu
cd "$(dirname "$0")/.."
mkdir -p reports/doc
KEEP_SCREENSHOTS="$PWD/reports/doc" cargo test -p iplos-reports --test coordinator_chromium
ls -l reports/doc/*.png
