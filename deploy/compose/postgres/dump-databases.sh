#!/bin/sh
# A logical backup of every service's database (docker compose --profile backup run --rm pg-dump):
# pg_dump in custom format, one file per database, into $BACKUP_DIR/<UTC timestamp>/. Each dump
# is one consistent snapshot of its database; restore one with
#   pg_restore --clean --if-exists --no-owner --role=<db> -d <db> <db>.dump
# (README "Backups and restore"). Events are safe across databases dumped moments apart: an
# outbox row not yet sent is sent again after a restore (same Nats-Msg-Id) and the consumers'
# inboxes apply each event once.
#
#   LINLI_DATABASES   the databases to dump (= the services' roles)
#   PGHOST, PGUSER, PGPASSWORD   where and as whom (the superuser)
#   BACKUP_DIR        where the dumps go (a bind mount of ${LINLI_BACKUP_DIR:-./backups})
set -eu

: "${LINLI_DATABASES:?list the databases in LINLI_DATABASES}"
: "${BACKUP_DIR:?set BACKUP_DIR}"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
target="$BACKUP_DIR/$stamp"
mkdir -p "$target"
for db in $LINLI_DATABASES; do
    case "$db" in
        *[!a-z0-9_]*) echo "dump-databases: bad database name '$db' (use a-z, 0-9, _)" >&2; exit 1 ;;
    esac
    echo "dump-databases: $db"
    pg_dump --format=custom --no-password --dbname="$db" --file="$target/$db.dump.partial"
    mv "$target/$db.dump.partial" "$target/$db.dump"
done
echo "dump-databases: done, $target"
