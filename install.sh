#!/usr/bin/env bash
# Builds codexd, codexctl and codexd-mcp in one cargo build (the crates they share are
# compiled once, not three times as with three `cargo install` runs) and copies them to
# cargo's bin directory: $CARGO_INSTALL_ROOT/bin, else $CARGO_HOME/bin, else ~/.cargo/bin.
#
# Usage: ./install.sh [--debug]     (--debug: an unoptimised build, for trying things out)
set -euo pipefail
cd "$(dirname "$0")"

profile=release
case "${1:-}" in
  "") ;;
  --debug) profile=debug ;;
  *) echo "usage: ./install.sh [--debug]" >&2; exit 2 ;;
esac

bins=(codexd codexctl codexd-mcp)
build=(cargo build --locked)
[ "$profile" = release ] && build+=(--release)
for bin in "${bins[@]}"; do build+=(-p "$bin"); done
"${build[@]}"

target=${CARGO_TARGET_DIR:-target}
dest=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
mkdir -p "$dest"
for bin in "${bins[@]}"; do
  install -m 0755 "$target/$profile/$bin" "$dest/$bin"
  echo "installed $dest/$bin"
done

case ":$PATH:" in
  *":$dest:"*) ;;
  *) echo "note: $dest is not on your PATH; add it, e.g. export PATH=\"$dest:\$PATH\"" >&2 ;;
esac
