#!/usr/bin/env bash
# check-links.sh (make vet): every relative link in the README and docs/
# names a file the repository ships, inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
for doc in README.md docs/*.md; do
	dir=$(dirname "$doc")
	# [text](target): skip URLs and in-page anchors.
	for target in $(grep -o '\](\([^)]*\))' "$doc" | sed 's/^](//; s/)$//; s/#.*//' | grep -v '^[a-z]*://' | grep -v '^$' || true); do
		path=$(realpath -m "$dir/$target")
		case "$path" in
		"$PWD"/*) [ -e "$path" ] || { echo "$doc: link to $target: no such file"; bad=1; } ;;
		*) echo "$doc: link to $target: outside the repository"; bad=1 ;;
		esac
	done
done
exit $bad
