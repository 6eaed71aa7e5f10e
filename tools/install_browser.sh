#!/bin/sh
# Installs Debian's Chromium and its WebDriver (packages chromium, chromium-driver) for the browser
# tests in tests/, if they are missing. Quick when they are there; never fails:
# where apt-get is unavailable or we may not use it, it says so and those tests are skipped.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
if command -v apt-get >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    echo "Chromium or chromedriver not found; installing Debian's chromium and chromium-driver ..."
    $SUDO apt-get update -qq && \
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "Chromium installed: $(chromium --version 2>/dev/null)"
else
    echo "NOTE: Chromium and chromedriver are not installed here (they need apt-get as root);" >&2
    echo "the tests that drive the step-through page in a browser are skipped." >&2
fi
exit 0
