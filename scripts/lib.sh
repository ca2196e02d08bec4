# shellcheck shell=bash
# Helpers sourced by scripts/moto.sh and scripts/demo.sh.

# Print a TCP port on 127.0.0.1 that is free right now.
free_port() {
  "${PYTHON:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# alive PID: the process exists and is not a zombie.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# wait_port PORT PID TIMEOUT_S: wait until 127.0.0.1:PORT accepts connections.
# Fails at once when process PID exits, or after TIMEOUT_S seconds.
wait_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    alive "$pid" || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# stop_pid PID: TERM the process group PID leads (or the process alone), KILL it after 5 s.
stop_pid() {
  local pid=$1 _
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
}
