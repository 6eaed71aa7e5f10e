#!/bin/sh
# Installs the Graphviz `dot` executable through the platform's package manager, if it is missing.
# The Python `graphviz` package only writes DOT text; rendering SVG/PNG needs this binary.
if command -v dot >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
echo "Graphviz 'dot' not found; installing it ..."
if command -v apt-get >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
elif command -v dnf >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    $SUDO dnf install -y graphviz
elif command -v apk >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    $SUDO apk add graphviz
elif command -v pacman >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    $SUDO pacman -S --noconfirm graphviz
elif command -v brew >/dev/null 2>&1; then
    brew install graphviz
fi
if command -v dot >/dev/null 2>&1; then
    echo "Graphviz installed: $(dot -V 2>&1)"
else
    echo "WARNING: could not install Graphviz's 'dot' here. Install the 'graphviz' package with your" >&2
    echo "system's package manager (https://graphviz.org/download/). Until then drawings are written" >&2
    echo "as .dot source only, and the tests that render with dot are skipped." >&2
fi
exit 0
