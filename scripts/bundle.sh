#!/usr/bin/env bash
# Builds the deployable bundle for one board:
#
#     scripts/bundle.sh BOARD            # e.g. rpi4, armv7-512, x86_64
#     USE_CROSS=1 scripts/bundle.sh rpi4 # build with cross (Docker/Podman), CROSS_CONFIG=cross.toml
#
# Reads board/BOARD.toml (target triple, memory_budget_mib), builds the firmware (the gateway
# alone: --no-default-features, release profile tuned for size) and writes
#
#     dist/presence-gateway-<version>-<BOARD>.tar.gz
#
# holding one directory presence-gateway-<version>-<BOARD>/ with: the stripped binary, the
# board profile (board/BOARD.toml), site.toml.example (examples/site.toml with the board and
# state_dir set for the unit), secrets.toml.example, secrets.env.example, the systemd unit
# with MemoryMax set from the budget, INSTALL.md and SHA256SUMS. Prints the tarball path
# and the binary size.
#
# Environment: USE_CROSS=1 (build with `cross`), CROSS_CONFIG (default cross.toml),
# CARGO_TARGET_DIR (default target/), DIST_DIR (default dist/).
set -euo pipefail

usage() {
    local boards=() f
    for f in "$ROOT"/board/*.toml; do boards+=("$(basename "$f" .toml)"); done
    echo "usage: $0 BOARD   (one of: ${boards[*]})" >&2
    exit 64
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ $# -eq 1 ]] || usage
BOARD="$1"
BOARD_FILE="board/$BOARD.toml"
[[ "$BOARD" =~ ^[A-Za-z0-9_-]+$ && -f "$BOARD_FILE" ]] || { echo "no board profile $BOARD_FILE" >&2; usage; }

# A top-level key of a TOML file (before the first [table]); strips quotes and comments.
toml_top() {
    awk -v key="$2" '
        /^[[:space:]]*\[/ { exit }
        $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
            sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]*#.*$/, ""); gsub(/"/, ""); print; exit
        }' "$1"
}

TARGET="$(toml_top "$BOARD_FILE" target)"
BUDGET_MIB="$(toml_top "$BOARD_FILE" memory_budget_mib)"
VERSION="$(awk '/^\[package\]/{p=1; next} /^\[/{p=0} p && /^version[[:space:]]*=/{gsub(/.*=[[:space:]]*"|".*/, ""); print; exit}' Cargo.toml)"
[[ -n "$TARGET" ]] || { echo "$BOARD_FILE: no target" >&2; exit 1; }
[[ "$BUDGET_MIB" =~ ^[0-9]+$ ]] || { echo "$BOARD_FILE: memory_budget_mib missing or not a number" >&2; exit 1; }
[[ -n "$VERSION" ]] || { echo "Cargo.toml: no [package] version" >&2; exit 1; }

echo "==> board $BOARD: target $TARGET, memory budget $BUDGET_MIB MiB, version $VERSION" >&2
BUILD=(build --release --locked --no-default-features --bin presence-gateway --target "$TARGET")
if [[ "${USE_CROSS:-0}" == 1 ]]; then
    # cross reads only Cross.toml or CROSS_CONFIG; ours is lowercase cross.toml.
    CROSS_CONFIG="${CROSS_CONFIG:-cross.toml}" cross "${BUILD[@]}"
else
    cargo "${BUILD[@]}"
fi
BIN="${CARGO_TARGET_DIR:-target}/$TARGET/release/presence-gateway"
[[ -x "$BIN" ]] || { echo "build produced no $BIN" >&2; exit 1; }

NAME="presence-gateway-$VERSION-$BOARD"
DIST="${DIST_DIR:-dist}"
STAGE="$DIST/$NAME"
rm -rf "$STAGE"
mkdir -p "$STAGE/board"

cp "$BIN" "$STAGE/presence-gateway"
# The release profile already strips (strip = true); strip again with the target's binutils
# when present, so a profile change cannot ship symbols.
case "$TARGET" in
    aarch64-*) STRIP_TOOL=aarch64-linux-gnu-strip ;;
    armv7-*|arm-*) STRIP_TOOL=arm-linux-gnueabihf-strip ;;
    x86_64-*) STRIP_TOOL="strip" ;;
    *) STRIP_TOOL= ;;
esac
if [[ -n "$STRIP_TOOL" ]] && command -v "$STRIP_TOOL" >/dev/null; then
    "$STRIP_TOOL" --strip-all "$STAGE/presence-gateway"
fi
chmod 0755 "$STAGE/presence-gateway"

cp "$BOARD_FILE" "$STAGE/board/$BOARD.toml"
# The example site config, set for this board and the unit's StateDirectory. state_dir is a
# subdirectory of /var/lib/presence-gateway so that quarantining an unreadable store (a
# rename next to it) stays inside the unit's only writable directory.
sed -e "s|^board = \".*\"|board = \"$BOARD\"|" \
    -e 's|^# state_dir = .*|state_dir = "/var/lib/presence-gateway/sled"|' \
    examples/site.toml > "$STAGE/site.toml.example"
grep -q '^state_dir = "/var/lib/presence-gateway/sled"' "$STAGE/site.toml.example" \
    || { echo "examples/site.toml: the '# state_dir = ...' line to set is gone" >&2; exit 1; }
grep -q "^board = \"$BOARD\"" "$STAGE/site.toml.example" \
    || { echo "examples/site.toml: the 'board = ...' line to set is gone" >&2; exit 1; }
cp examples/secrets.toml.example "$STAGE/secrets.toml.example"
cat > "$STAGE/secrets.env.example" <<'EOF'
# /etc/presence-gateway/secrets.env: read by systemd (EnvironmentFile=) as root, before the
# gateway drops to its dynamic user. Keep it root:root, mode 0600:
#     install -m 600 -o root -g root secrets.env.example /etc/presence-gateway/secrets.env
# KEY=value, one per line, no spaces around '='.
GENESYS_CLIENT_ID=00000000-0000-0000-0000-000000000000
GENESYS_CLIENT_SECRET=replace-me
# MQTT_PASSWORD=replace-me
EOF
sed "s/@MEMORY_BUDGET_MIB@/$BUDGET_MIB/g" packaging/presence-gateway.service > "$STAGE/presence-gateway.service"
! grep -q '@[A-Z_]*@' "$STAGE/presence-gateway.service" \
    || { echo "packaging/presence-gateway.service: unsubstituted placeholder" >&2; exit 1; }
cp packaging/INSTALL.md "$STAGE/INSTALL.md"

SUMS="$(cd "$STAGE" && find . -type f | sed 's#^\./##' | LC_ALL=C sort | xargs sha256sum)"
printf '%s\n' "$SUMS" > "$STAGE/SHA256SUMS"

SIZE=$(stat -c %s "$STAGE/presence-gateway")
TARBALL="$DIST/$NAME.tar.gz"
# Reproducible-ish: fixed owner and order, so two bundles of one build compare equal.
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$DIST" -czf "$TARBALL" "$NAME"
rm -rf "$STAGE"

echo "bundle: $TARBALL"
echo "binary: presence-gateway for $TARGET, $SIZE bytes ($(( (SIZE + 1023) / 1024 )) KiB), stripped"
