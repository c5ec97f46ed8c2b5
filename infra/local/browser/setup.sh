#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser tests, on a Debian 12 machine, as root.
# Debian's `chromium` package, driven by Playwright for Python (in the dev extras) through
# executable_path: no browser is ever downloaded (never `playwright install`).
# Safe to run again: it only installs what is missing.
set -euo pipefail
SECONDS=0
log() { echo "[browser setup] $*" >&2; }

CHROMIUM=/usr/bin/chromium

# --- Debian packages ---------------------------------------------------------------------
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
# Text in screenshots needs at least one font; Chromium's dependencies do not promise one.
compgen -G "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" >/dev/null || missing+=(fonts-dejavu-core)
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${missing[*]}: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

log "ready in ${SECONDS}s: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
