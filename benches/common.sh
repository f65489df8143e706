# Sourced by the hyperfine benchmark scripts, from the repository's root, with the script's
# own arguments: sets $results (the first argument, or target/bench-results), checks for
# hyperfine, builds the shipped binary into $ee, and defines helpers for loopback peers.
results=${1:-target/bench-results}
mkdir -p "$results"
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }
. benches/shipped-build.sh

# A loopback port that nothing listens on (a connection to it is refused).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (at most 5 s) until FILE has content: a peer started in the background is ready.
wait_for() { for _ in $(seq 50); do [ -s "$1" ] && break; sleep 0.1; done; }

# NAME: starts `earlyexit serve` on its own SQLite database in $work, taking the key
# bench-key, as a job of the calling shell (so that its trap stops it), and sets $url to its
# events endpoint. Its log, one JSON line per request, is $work/NAME.log.
start_receiver() {
    echo bench-key-0123456789 | "$ee" serve --database "$work/$1.db" keys add runners --from-stdin 2>/dev/null
    "$ee" serve --listen 127.0.0.1:0 --database "$work/$1.db" > "$work/$1.out" 2> "$work/$1.log" &
    wait_for "$work/$1.out"
    url="$(sed -n 's/^listening on //p' "$work/$1.out")/api/v1/events"
}

# Starts a server in $work that accepts connections and never answers; sets $silent_port.
start_silent_server() {
    benches/silent-server.py "$work/silent.port" &
    wait_for "$work/silent.port"
    silent_port=$(cat "$work/silent.port")
}
