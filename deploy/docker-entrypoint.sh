#!/usr/bin/env bash
# Container entrypoint: starts the cloud simulator, waits for its "ready" log line, then starts the agent with
# the simulator's URLs in its environment. SIGTERM/SIGINT are forwarded to both; when either process exits on
# its own, the other is stopped and the container exits with the first one's status.
#
# Environment (every command can be replaced, which is how deploy's test drives this script):
#   SIM_CONFIG          simulator config file            (default /app/simulator/simulator.config.json)
#   SIM_HTTP_PORT       HTTP API port                    (default 8080)
#   SIM_MQTT_PORT       MQTT port                        (default 1883)
#   SIM_CMD             command that runs the simulator  (default: node /app/dist/simulator/cli.js serve ...)
#   AGENT_CONFIG        agent config file                (default /app/agent.config.json)
#   AGENT_CMD           command that runs the agent      (default: node /app/dist/agent/cli/main.js run --config "$AGENT_CONFIG")
#   SIM_READY_TIMEOUT   seconds to wait for "ready"      (default 30)
#   STOP_TIMEOUT        seconds between SIGTERM and SIGKILL when stopping (default 10)
# The agent's environment gets SIM_HTTP_URL and SIM_MQTT_URL, read from the simulator's ready line.
set -u

SIM_CONFIG="${SIM_CONFIG:-/app/simulator/simulator.config.json}"
SIM_HTTP_PORT="${SIM_HTTP_PORT:-8080}"
SIM_MQTT_PORT="${SIM_MQTT_PORT:-1883}"
SIM_CMD="${SIM_CMD:-node /app/dist/simulator/cli.js serve --config \"$SIM_CONFIG\" --host 0.0.0.0 --http-port $SIM_HTTP_PORT --mqtt-port $SIM_MQTT_PORT}"
AGENT_CONFIG="${AGENT_CONFIG:-/app/agent.config.json}"
AGENT_CMD="${AGENT_CMD:-node /app/dist/agent/cli/main.js run --config \"$AGENT_CONFIG\"}"
SIM_READY_TIMEOUT="${SIM_READY_TIMEOUT:-30}"
STOP_TIMEOUT="${STOP_TIMEOUT:-10}"

log() { printf 'entrypoint: %s\n' "$*" >&2; }

workdir="$(mktemp -d)"
sim_pid=""
agent_pid=""
reader_pid=""
stopping=0
cleanup() { rm -rf "$workdir"; }
trap cleanup EXIT

stop_children() {
  stopping=1
  for pid in $agent_pid $sim_pid; do kill -TERM "$pid" 2>/dev/null; done
}
on_signal() {
  log "received $1: stopping the agent and the simulator"
  stop_children
}
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGINT' INT

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Waits for both children, SIGKILLing them after STOP_TIMEOUT; exits with $1, or else the first non-zero status.
finish() {
  local wanted="$1" status=0 rc
  # The watchdog kills its own sleep when cancelled, so no stray process keeps the container's stdio open.
  ( trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$STOP_TIMEOUT" & sleeper=$!
    wait "$sleeper"
    for pid in $agent_pid $sim_pid; do kill -KILL "$pid" 2>/dev/null; done ) >/dev/null 2>&1 &
  local killer=$!
  for pid in $agent_pid $sim_pid; do
    while alive "$pid"; do wait "$pid" 2>/dev/null; done
    wait "$pid" 2>/dev/null; rc=$?
    [ "$status" = 0 ] && [ "$rc" != 127 ] && status=$rc
  done
  kill "$killer" 2>/dev/null
  wait "$killer" 2>/dev/null
  [ -n "$reader_pid" ] && wait "$reader_pid" 2>/dev/null
  [ -n "$wanted" ] && status="$wanted"
  log "exiting with status $status"
  exit "$status"
}

# The simulator's stdout goes through a FIFO so its lines still reach the container's stdout while the ready
# line is picked out of them.
mkfifo "$workdir/sim.out"
( while IFS= read -r line; do
    printf '%s\n' "$line"
    case "$line" in *'"msg":"ready"'*) printf '%s\n' "$line" > "$workdir/ready" ;; esac
  done < "$workdir/sim.out" ) &
reader_pid=$!
sh -c "exec $SIM_CMD" > "$workdir/sim.out" &
sim_pid=$!
log "simulator started (pid $sim_pid)"

deadline=$(( $(date +%s) + SIM_READY_TIMEOUT ))
while [ ! -s "$workdir/ready" ]; do
  if [ "$stopping" = 1 ]; then finish ""; fi
  if ! alive "$sim_pid"; then
    wait "$sim_pid"; rc=$?
    log "simulator exited with status $rc before it was ready"
    finish "$(( rc == 0 ? 1 : rc ))"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "simulator not ready after ${SIM_READY_TIMEOUT} s"
    stop_children
    finish 1
  fi
  sleep 0.1
done

ready_line="$(cat "$workdir/ready")"
SIM_HTTP_URL="$(printf '%s' "$ready_line" | sed -n 's/.*"httpUrl":"\([^"]*\)".*/\1/p')"
SIM_MQTT_URL="$(printf '%s' "$ready_line" | sed -n 's/.*"mqttUrl":"\([^"]*\)".*/\1/p')"
export SIM_HTTP_URL SIM_MQTT_URL
log "simulator ready: HTTP $SIM_HTTP_URL, MQTT $SIM_MQTT_URL"

sh -c "exec $AGENT_CMD" &
agent_pid=$!
log "agent started (pid $agent_pid)"

# A trapped signal interrupts `wait -n` (status > 128); otherwise it returns when a child exits on its own.
while [ "$stopping" = 0 ]; do
  wait -n "$sim_pid" "$agent_pid"; rc=$?
  [ "$stopping" = 1 ] && break
  if alive "$sim_pid" && alive "$agent_pid"; then continue; fi
  if alive "$sim_pid"; then who=agent; else who=simulator; fi
  log "$who exited with status $rc: stopping the other"
  stop_children
  finish "$rc"
done
finish ""
