#!/bin/sh
# fuzz.sh runs every native Go fuzz target of the module in turn, each for DURATION (default 60s), one
# at a time, with at most PARALLEL workers (default 2). Usage: scripts/fuzz.sh [duration] [name-regexp]
#   scripts/fuzz.sh            every target, 60 s each
#   scripts/fuzz.sh 10m Push   the targets whose name matches Push, 10 minutes each
# A failure stops the run; Go saves the failing input under the package's testdata/fuzz/<Target>/, where
# `go test ./...` replays it from then on. Commit it with the fix.
set -eu
duration=${1:-60s}
pattern=${2:-.}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file" | grep -E -- "$pattern" | while read -r target; do
		echo "== $target $pkg ($duration)"
		go test -run='^$' -fuzz="^$target\$" -fuzztime="$duration" -parallel="${PARALLEL:-2}" "$pkg"
	done
done
