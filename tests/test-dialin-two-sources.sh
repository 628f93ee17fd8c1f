#!/usr/bin/env bash
# Two sources dialling one listening converter (docs/dial-in.md, "The
# session token"): two p2v-agent serve --connect, each with its own
# 64 MiB of random data in a file of the same name (so the same export
# name and size), both connected before and during the copy.  The
# converter binds to the session of the source it took first: the output
# equals that source byte for byte, never a mix; the converter says once
# that it refused a second source, the refused agent says once that the
# converter is busy (not once per connection), and the converter exits 0.
# Three runs: A first, B first, both at once.
source "$(dirname "$0")/functions.sh"
P2V_CONVERT=$P2V_BUILD_DIR/converter/p2v-convert
[ -x "$P2V_AGENT" ] && [ -x "$P2V_CONVERT" ] || skip "p2v-agent or p2v-convert is not built"

cd "$TEST_DIR"
MiB=$((1024 * 1024))
mkdir a b
head -c $((64 * MiB)) /dev/urandom >a/disk.img
head -c $((64 * MiB)) /dev/urandom >b/disk.img

# start_agent_bg NAME RUN: p2v-agent serve --connect PORT NAME/disk.img in
# the background (log RUN-NAME.err); sets AGENT_PID.
start_agent_bg() {
    local name=$1 run=$2
    timeout 120 "$P2V_AGENT" serve -vv --connect "127.0.0.1:$port" "$name/disk.img" 2>"$run-$name.err" &
    AGENT_PID=$!
}
# dialled NAME RUN: wait until that agent's first session is connected.
dialled() {
    local i
    for ((i = 0; i < 1000; i++)); do grep -qs "connected to the converter" "$2-$1.err" && return; sleep 0.01; done
    fail "$2: agent $1 never connected"
}

pid_a='' pid_b=''
stop_agents() { [ -z "$pid_a$pid_b" ] || { kill $pid_a $pid_b 2>/dev/null; wait $pid_a $pid_b 2>/dev/null; }; }
cleanup stop_agents

# run_two RUN ORDER: ORDER is "a b", "b a" or "both".
run_two() {
    local run=$1 order=$2 i
    ( rc=0; timeout 120 "$P2V_CONVERT" copy --listen 127.0.0.1:0 -O raw -o "out-$run" --wait 60 \
          >"$run.out" 2>"$run.err" || rc=$?; echo $rc >"$run.status" ) &
    local conv=$!
    for ((i = 0; i < 200; i++)); do grep -q "listening on" "$run.err" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$run.err")
    [ -n "$port" ] || { cat "$run.err" >&2; fail "$run: the converter does not listen"; }
    pid_a='' pid_b=''
    case $order in
    "a b") start_agent_bg a "$run"; pid_a=$AGENT_PID; dialled a "$run"
           start_agent_bg b "$run"; pid_b=$AGENT_PID ;;
    "b a") start_agent_bg b "$run"; pid_b=$AGENT_PID; dialled b "$run"
           start_agent_bg a "$run"; pid_a=$AGENT_PID ;;
    both)  start_agent_bg a "$run"; pid_a=$AGENT_PID
           start_agent_bg b "$run"; pid_b=$AGENT_PID ;;
    esac
    wait $conv || true
    [ "$(cat "$run.status")" = 0 ] || { cat "$run.err" "$run-a.err" "$run-b.err" >&2; fail "$run: converter exit $(cat "$run.status")"; }
    # The bound source learns it is done and exits 0; the other keeps
    # trying (the converter is gone now) until stopped.
    local winner loser
    for ((i = 0; i < 100; i++)); do
        grep -qs "the converter has everything; done" "$run-a.err" && { winner=a; loser=b; break; }
        grep -qs "the converter has everything; done" "$run-b.err" && { winner=b; loser=a; break; }
        sleep 0.1
    done
    [ -n "${winner:-}" ] || { cat "$run-a.err" "$run-b.err" >&2; fail "$run: no agent was told done"; }
    local winner_pid=$pid_a loser_pid=$pid_b rc=0
    [ $winner = a ] || { winner_pid=$pid_b; loser_pid=$pid_a; }
    wait "$winner_pid" || rc=$?
    [ $rc = 0 ] || fail "$run: agent $winner exit $rc"
    kill "$loser_pid" 2>/dev/null || true
    wait "$loser_pid" 2>/dev/null || true
    pid_a='' pid_b=''
    case $order in
    "a b") [ $winner = a ] || fail "$run: B was taken though A dialled first" ;;
    "b a") [ $winner = b ] || fail "$run: A was taken though B dialled first" ;;
    esac
    cmp "$winner/disk.img" "out-$run/disk.img.raw" ||
        fail "$run: the copy is not source $winner's disk (mixed with $loser's?)"
    [ "$(grep -c "refused a second source that dialled in from 127.0.0.1:[0-9]* (another session); give each source its own --listen port" "$run.err")" -eq 1 ] ||
        { cat "$run.err" >&2; fail "$run: expected one refusal line from the converter"; }
    [ "$(grep -c "the converter at 127.0.0.1:$port is busy with another source; start a converter of its own for this one (trying again every 10 s)" "$run-$loser.err")" -eq 1 ] ||
        { cat "$run-$loser.err" >&2; fail "$run: expected one 'busy' line from agent $loser"; }
    ! grep -q "has everything" "$run-$loser.err" || fail "$run: agent $loser was told done"
    echo "$run ($order): copied $winner, refused $loser; converter: $(grep -c . "$run.err") lines; agent $loser: $(grep -c "warning" "$run-$loser.err") warnings"
}

run_two run1 "a b"
run_two run2 "b a"
run_two run3 both
pass "two sources dialling one converter: the copy is one of them, the other is refused once"
