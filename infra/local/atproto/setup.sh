#!/usr/bin/env bash
# Everything network.mjs needs, on a Debian 12 machine, as root. Safe to run again: it only
# installs what is missing and starts what is not running.
#   - PostgreSQL (Debian's) running on localhost:5432, with role pg/password and database
#     replywatch_atproto (the AppView's and Ozone's data)
#   - Redis (Debian's) on localhost:6379
#   - node_modules here, from package-lock.json (npm ci; skipped when already in place)
# No systemd needed: the servers are started directly (pg_ctlcluster, redis-server --daemonize).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS=0
log() { echo "[atproto setup] $*" >&2; }

PG_ROLE=pg
PG_PASSWORD=password
PG_DB=replywatch_atproto
REDIS_PORT=6379

# --- Debian packages ---------------------------------------------------------------------
missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
# better-sqlite3 (the PDS's database) is compiled at install time: no prebuilt binary here.
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- PostgreSQL --------------------------------------------------------------------------
pg_version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$pg_version main"; then
  log "creating PostgreSQL $pg_version cluster 'main'"
  pg_createcluster --port 5432 "$pg_version" main >/dev/null
fi
pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $3}')
if [ "$pg_port" != 5432 ]; then
  log "warning: cluster $pg_version/main listens on port $pg_port, not 5432: set DB_POSTGRES_URL"
fi
if ! pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  log "starting PostgreSQL $pg_version/main"
  pg_ctlcluster "$pg_version" main start
fi
psql_admin() { runuser -u postgres -- psql -p "$pg_port" -X -q -v ON_ERROR_STOP=1 "$@"; }
for _ in $(seq 1 30); do psql_admin -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
psql_admin <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SQL
if [ "$(psql_admin -Atc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE"
fi

# --- Redis -------------------------------------------------------------------------------
if [ "$(redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null)" != PONG ]; then
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no \
    --dir /tmp --logfile /tmp/replywatch-redis.log
  for _ in $(seq 1 30); do [ "$(redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null)" = PONG ] && break; sleep 0.2; done
fi

# --- node_modules ------------------------------------------------------------------------
# node-gyp would download Node's headers; use the ones installed with Node instead.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
stamp="node_modules/.replywatch-stamp"
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node -v)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci (about 2 minutes: better-sqlite3 is compiled)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

log "ready in ${SECONDS}s: PostgreSQL postgresql://$PG_ROLE:$PG_PASSWORD@localhost:$pg_port/$PG_DB, Redis localhost:$REDIS_PORT"
