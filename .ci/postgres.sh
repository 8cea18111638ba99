# Sourced by .ci/run (and usable by hand): starts a throwaway PostgreSQL 15 cluster on loopback
# and exports MAMORI_TEST_POSTGRES_URL. Installs Debian's postgresql-15 if it is missing.
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_PORT="${PG_PORT:-55432}"
PG_ROOT=""

start_postgres() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL 15 is missing: installing Debian's postgresql-15"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql-15 >/dev/null
  fi
  PG_ROOT="$(mktemp -d /tmp/mamori-pg.XXXXXX)"
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PG_ROOT" postgres
    chown postgres "$PG_ROOT"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$PG_BIN/initdb" -D "$PG_ROOT/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$PG_ROOT/initdb.log" 2>&1 \
    || { cat "$PG_ROOT/initdb.log"; return 1; }
  "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w \
    -o "-p $PG_PORT -k $PG_ROOT -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || { cat "$PG_ROOT/server.log"; return 1; }
  PG_RUN_AS=("${run_as[@]}")
  export MAMORI_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
}

stop_postgres() {
  if [ -n "$PG_ROOT" ] && [ -d "$PG_ROOT/data" ]; then
    "${PG_RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_ROOT"
  fi
}
