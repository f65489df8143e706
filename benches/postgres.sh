# Sourced by the benchmarks of the team server on PostgreSQL: starts a throwaway cluster in
# $work (initdb as the postgres user when run as root), on a free port, and defines psql.
# Sets $bin, $port and $url (postgres://…/team, the database created); stop_postgres stops it.
# It is stopped by pg_ctl as its owner: a signal to runuser is not passed on to the postmaster,
# which then outlived the script (and a `wait` on it never returned).
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_owner=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$work"
    as_owner=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$bin/initdb" -D "$work/data" -A trust -U earlyexit --no-sync >/dev/null
"${as_owner[@]}" "$bin/postgres" -D "$work/data" -p "$port" -k "$work" -c listen_addresses=127.0.0.1 \
    -c shared_buffers=256MB >"$work/pg.log" 2>&1 &
stop_postgres() {
    "${as_owner[@]}" "$bin/pg_ctl" -D "$work/data" stop -m fast >/dev/null 2>&1 || true
}
until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do sleep 0.1; done
psql() { "$bin/psql" -h 127.0.0.1 -p "$port" -U earlyexit -At -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c 'CREATE DATABASE team' >/dev/null
url="postgres://earlyexit@127.0.0.1:$port/team"
