# Shared helpers for the shell tests.  Source it first thing:
#   source "$(dirname "$0")/functions.sh"
# Environment from CTest: P2V_BUILD_DIR, P2V_SOURCE_DIR, P2V_SHARED_DIR.
set -euo pipefail

: "${P2V_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${P2V_BUILD_DIR:=$P2V_SOURCE_DIR/build}"
: "${P2V_SHARED_DIR:=$P2V_SOURCE_DIR/../shared}"
P2V_AGENT=$P2V_BUILD_DIR/p2v-agent/p2v-agent
# Debian's python3, whose modules (python3-libnbd) the installer provides,
# whatever other python3 comes first on PATH.
PYTHON=/usr/bin/python3
export P2V_SOURCE_DIR P2V_BUILD_DIR P2V_SHARED_DIR P2V_AGENT PYTHON

# A scratch folder removed at exit; cleanup_fns run first (stop servers).
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p2v-test.XXXXXX")
cleanup_fns=()
on_exit() {
    local status=$?
    for fn in "${cleanup_fns[@]}"; do "$fn" || true; done
    rm -rf "$TEST_DIR"
    exit $status
}
trap on_exit EXIT
cleanup() { cleanup_fns+=("$1"); }

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "PASS: $*"; }

# requires CMD...: skip the test when a peer tool is missing.
requires() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c is not installed (scripts/install-deps installs it)"
    done
}

# A TCP port nothing listens on (picked by the kernel).
# A port below the kernel's ephemeral range (32768 and up), so the client
# side of some other test's connection cannot take it between this check
# and the server binding it; random, so parallel tests rarely pick the same.
free_port() {
    "$PYTHON" -c '
import random, socket
for _ in range(200):
    port = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("free_port: no free port in 20000-31999")
'
}

# wait_for_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_for_port() {
    local port=$1 limit=${2:-20} i
    for ((i = 0; i < limit * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    fail "nothing listens on port $port after ${limit}s"
}

# start_agent PORT ARGS...: run "p2v-agent serve --listen 127.0.0.1:PORT ARGS"
# in the background, wait until it listens, stop it at exit.  Sets AGENT_PID.
start_agent() {
    local port=$1; shift
    "$P2V_AGENT" serve --listen "127.0.0.1:$port" "$@" >"$TEST_DIR/agent-$port.log" 2>&1 &
    AGENT_PID=$!
    eval "stop_agent_$port() { kill $AGENT_PID 2>/dev/null; wait $AGENT_PID 2>/dev/null; }"
    cleanup "stop_agent_$port"
    wait_for_port "$port" 20 || { cat "$TEST_DIR/agent-$port.log" >&2; exit 1; }
}

# expect_error "PATTERN" CMD...: CMD must fail with exactly one line on stderr
# matching PATTERN (extended regex).
expect_error() {
    local pattern=$1; shift
    local status=0
    "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || status=$?
    [ "$status" -ne 0 ] || fail "expected failure from: $*"
    local lines
    lines=$(wc -l <"$TEST_DIR/err")
    [ "$lines" -eq 1 ] || { cat "$TEST_DIR/err" >&2; fail "expected one line on stderr from: $* (got $lines)"; }
    grep -Eq -e "$pattern" "$TEST_DIR/err" || { cat "$TEST_DIR/err" >&2; fail "stderr of '$*' does not match /$pattern/"; }
}
