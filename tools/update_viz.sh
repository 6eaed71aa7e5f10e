#!/bin/sh
# Refreshes tinygraph/drawing/vendor/viz-global.js, the WebAssembly build of Graphviz that the
# step-through page and notebook output use where Graphviz's `dot` is missing, from the npm
# registry with `npm pack` (nothing is built here). The version is pinned: to move to another,
# change VERSION, run this, look at a page without `dot` (the browser tests do), update
# tinygraph/drawing/vendor/README.md, and commit the new file.
set -eu
VERSION=3.31.0
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENDOR="$HERE/tinygraph/drawing/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "@viz-js/viz@$VERSION" >/dev/null
tar -xzf "viz-js-viz-$VERSION.tgz"
cp package/dist/viz-global.js "$VENDOR/viz-global.js"
echo "wrote $VENDOR/viz-global.js (@viz-js/viz $VERSION, $(wc -c < "$VENDOR/viz-global.js") bytes," \
     "sha256 $(sha256sum "$VENDOR/viz-global.js" | cut -d' ' -f1))"
