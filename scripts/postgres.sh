#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the database adapter's tests, from Debian's packages.
#
#   scripts/postgres.sh start   install postgresql if missing, start a cluster on
#                               127.0.0.1:$SILIAN_POSTGRES_PORT under $SILIAN_POSTGRES_DIR,
#                               create the test role and database; print the DSN on stdout
#   scripts/postgres.sh dsn     print the DSN of the running cluster
#   scripts/postgres.sh stop    stop the cluster (its files stay; `start` reuses them)
#
# Idempotent: `start` on a running cluster only prints the DSN. Progress goes to stderr so
# that `export SILIAN_POSTGRES_DSN="$(scripts/postgres.sh start)"` works. As root (CI), the
# server runs as the `postgres` user, because PostgreSQL refuses to run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${SILIAN_POSTGRES_PORT:-55432}"
ROLE=silian
DB=silian_test

say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The cluster's folder: $SILIAN_POSTGRES_DIR, else .silian/postgres in this checkout — unless
# we are root and the postgres user cannot reach the checkout (a clone under /root), then a
# folder of the postgres user's own, named after the checkout so that clones don't collide.
choose_dir() {
  DIR="${SILIAN_POSTGRES_DIR:-$PWD/.silian/postgres}"
  if [[ -z "${SILIAN_POSTGRES_DIR:-}" && $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 \
    && ! runuser -u postgres -- test -x "$PWD"; then
    DIR="$(getent passwd postgres | cut -d: -f6)/silian-$(echo "$PWD" | cksum | cut -d' ' -f1)"
  fi
  DATA="$DIR/data"
  SOCKETS="$DIR/sockets"
  PASSFILE="$DIR/password"
}

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$found" ]]; then echo "$found"; return; fi
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)" && return
  return 1
}

install_if_missing() {
  bindir >/dev/null && return
  [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed; run as root or: sudo apt-get install postgresql"
  say "installing Debian's postgresql"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# Run a server program as the owner of the cluster: postgres when we are root, else ourselves.
as_owner() {
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

dsn() {
  [[ -f "$PASSFILE" ]] || die "no cluster under $DIR; run: scripts/postgres.sh start"
  echo "postgresql://$ROLE:$(cat "$PASSFILE")@127.0.0.1:$PORT/$DB"
}

running() { as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_admin() {
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKETS" -p "$PORT" -U postgres -d postgres "$@"
}

start() {
  install_if_missing
  choose_dir
  BIN="$(bindir)" || die "no PostgreSQL binaries found after installing"
  mkdir -p "$DIR"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    say "creating a cluster in $DATA"
    rm -rf "$DATA" "$SOCKETS"
    mkdir -p "$DATA" "$SOCKETS"
    [[ -f "$PASSFILE" ]] || (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$PASSFILE")
    if [[ $EUID -eq 0 ]]; then
      chown postgres: "$DATA" "$SOCKETS"
      # the server only needs to traverse the folder; the password file stays root's
      chmod o+x "$DIR"
    fi
    chmod 700 "$DATA" "$SOCKETS"
    # local (socket) connections are trusted because only the owner can reach the
    # socket folder; TCP connections need the generated password
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >&2
  fi
  if running; then
    say "already running on 127.0.0.1:$PORT"
  else
    say "starting on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCKETS" start >&2 \
      || die "the server did not start; see $DATA/server.log"
  fi
  local password
  password="$(cat "$PASSFILE")"
  if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]]; then
    psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$password'"
  fi
  if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
  fi
  dsn
}

stop() {
  BIN="$(bindir)" || { say "PostgreSQL is not installed; nothing to stop"; return; }
  choose_dir
  if [[ -f "$DATA/PG_VERSION" ]] && running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
  else
    say "not running"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  dsn) choose_dir && dsn ;;
  *) die "usage: scripts/postgres.sh [start|stop|dsn]" ;;
esac
