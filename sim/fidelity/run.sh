#!/usr/bin/env bash
# sim/fidelity/run.sh — SDK fidelity check of genesys-sim against Genesys' official Python SDK.
#
# Owns: the harness only. It creates a throwaway venv, installs the pinned SDK + websockets from PyPI, builds
# and starts the simulator on an ephemeral port (`--port 0`; the api_base is the first line of its stdout),
# runs sdk_fidelity.py against it, and stops the simulator on any exit. The closing line is always
# `fidelity: N passed, N failed`; the exit status is non-zero on any failure.
#
# Usage: bash sim/fidelity/run.sh [--tls]
#   --tls   start the sim with --tls --ca-out and make the SDK (urllib3) and websockets trust only that CA.
set -euo pipefail

SDK_VERSION="269.0.0"        # purecloudplatformclientv2, the version PROTOCOL.md cites (PY269)
WEBSOCKETS_VERSION="17.4"    # websockets (current when this was written)
SIM_ARGS=(--port 0 --host 127.0.0.1 --agents 60 --queues 4 --groups 2 --seed 7 --rate 0)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tls=0
for arg in "$@"; do
    case "$arg" in
        --tls) tls=1 ;;
        *) echo "usage: $0 [--tls]" >&2; exit 2 ;;
    esac
done

tmp="$(mktemp -d)"
sim_pid=""
finish() {
    local status=$?
    if [[ -n "$sim_pid" ]]; then
        kill -TERM -- "-$sim_pid" 2>/dev/null || kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

fail_setup() {
    echo "fidelity setup failed: $1" >&2
    echo "fidelity: 0 passed, 1 failed"
    exit 1
}

echo "[fidelity] venv + pip install purecloudplatformclientv2==$SDK_VERSION websockets==$WEBSOCKETS_VERSION"
python3 -m venv "$tmp/venv" || fail_setup "python3 -m venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check \
    "purecloudplatformclientv2==$SDK_VERSION" "websockets==$WEBSOCKETS_VERSION" || fail_setup "pip install"

echo "[fidelity] building genesys-sim"
(cd "$root" && cargo build --quiet -p genesys-sim --bin genesys-sim) || fail_setup "cargo build"

started=$SECONDS
sim_args=("${SIM_ARGS[@]}")
ca_args=()
if [[ $tls == 1 ]]; then
    sim_args+=(--tls --ca-out "$tmp/ca.pem")
    ca_args=("$tmp/ca.pem")
fi
# Own process group (setsid), so the trap stops the simulator and not only `cargo run`.
(cd "$root" && exec setsid cargo run --quiet -p genesys-sim --bin genesys-sim -- "${sim_args[@]}") \
    >"$tmp/sim.out" 2>"$tmp/sim.log" &
sim_pid=$!

api_base=""
for _ in $(seq 1 600); do
    if [[ -s "$tmp/sim.out" ]]; then
        api_base="$(head -n 1 "$tmp/sim.out")"
        [[ -n "$api_base" ]] && break
    fi
    kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.log" >&2; fail_setup "simulator exited"; }
    sleep 0.1
done
[[ -n "$api_base" ]] || fail_setup "no api_base from the simulator within 60 s"
echo "[fidelity] simulator at $api_base"

closing='^fidelity: [0-9]+ passed, [0-9]+ failed$'
set +e
# Stream the per-test lines now; hold the closing line back so that it is the last line printed.
PYTHONUNBUFFERED=1 "$tmp/venv/bin/python" "$here/sdk_fidelity.py" "$api_base" "${ca_args[@]}" \
    | tee "$tmp/result.txt" | grep -Ev "$closing"
status=${PIPESTATUS[0]}
set -e
if ! grep -Eq "$closing" "$tmp/result.txt"; then
    echo "[fidelity] the test died before reporting (exit $status); simulator log:" >&2
    tail -n 20 "$tmp/sim.log" >&2
    echo "fidelity: 0 passed, 1 failed"
    exit 1
fi
if [[ $status != 0 ]]; then
    echo "[fidelity] simulator log (tail):" >&2
    tail -n 20 "$tmp/sim.log" >&2
fi
echo "[fidelity] $((SECONDS - started)) s after the build"
grep -E "$closing" "$tmp/result.txt"
exit "$status"
