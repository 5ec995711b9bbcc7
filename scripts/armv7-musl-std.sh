#!/usr/bin/env bash
# Makes `armv7-unknown-linux-musleabihf` (the armv7-512 board's firmware) buildable on a machine
# whose rustup cannot download that target's standard library: the project machines' dist
# mirror answers 404 for rust-std-<version>-armv7-unknown-linux-musleabihf (DEPENDENCIES.md
# pitfall 11). With a normal rustup (`rustup target add armv7-unknown-linux-musleabihf`, or
# `cross`) this script is not needed.
#
#     scripts/armv7-musl-std.sh          # once; then build with the environment it prints:
#     RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
#         cargo build --release --no-default-features --target armv7-unknown-linux-musleabihf
#
# How: the standard library is compiled from the toolchain's own sources (`rust-src`, cargo's
# build-std; RUSTC_BOOTSTRAP=1 lets the stable compiler take the unstable flag). What rust-std
# would have brought besides the compiled crates is the "self-contained" link kit: musl's crt
# objects and libc.a, and an unwinder. This script puts Debian's own musl 1.2.3 for armhf there
# (package musl-dev:armhf, downloaded and unpacked, never installed), gcc's crtbegin/crtend,
# and gcc's libgcc_eh.a as libunwind.a (it provides the same _Unwind_* ABI). The linker stays
# Debian's arm-linux-gnueabihf-gcc (.cargo/config.toml), as for aarch64-musl.
#
# Needs: rustup, apt-get and dpkg (Debian 12), gcc-arm-linux-gnueabihf; root or sudo to add the
# armhf architecture to apt's lists (download only: nothing armhf is installed).
set -euo pipefail

TARGET=armv7-unknown-linux-musleabihf
SUDO=()
[[ "$(id -u)" == 0 ]] || SUDO=(sudo)

sysroot="$(rustc --print sysroot)"
kit="$sysroot/lib/rustlib/$TARGET/lib/self-contained"
if [[ -f "$kit/libc.a" && -f "$kit/crt1.o" && -f "$kit/libunwind.a" ]]; then
    echo "armv7-musl-std: link kit already in $kit"
else
    rustup component add rust-src
    if ! dpkg --print-foreign-architectures | grep -qx armhf; then
        "${SUDO[@]}" dpkg --add-architecture armhf
        "${SUDO[@]}" apt-get update -qq
    fi
    work="$(mktemp -d "${TMPDIR:-/tmp}/armv7-musl.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    chmod 755 "$work" # apt-get download writes as its sandbox user (_apt)
    (cd "$work" && apt-get download musl-dev:armhf >/dev/null) ||
        { "${SUDO[@]}" apt-get update -qq && (cd "$work" && apt-get download musl-dev:armhf >/dev/null); }
    dpkg-deb -x "$work"/musl-dev_*_armhf.deb "$work/root"
    musl="$work/root/usr/lib/arm-linux-musleabihf"
    gcc_dir="$(dirname "$(arm-linux-gnueabihf-gcc -print-libgcc-file-name)")"
    mkdir -p "$kit"
    cp "$musl"/{crt1.o,crti.o,crtn.o,Scrt1.o,rcrt1.o,libc.a} "$kit/"
    cp "$gcc_dir"/{crtbegin.o,crtbeginS.o,crtend.o,crtendS.o} "$kit/"
    cp "$gcc_dir/libgcc_eh.a" "$kit/libunwind.a"
    echo "armv7-musl-std: musl $(dpkg-deb -f "$work"/musl-dev_*_armhf.deb Version) link kit in $kit"
fi
echo "armv7-musl-std: build with RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort (release)"
echo "armv7-musl-std: test with RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_unwind (cargo adds test)"
