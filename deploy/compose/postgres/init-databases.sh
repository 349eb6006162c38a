#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d). One login role and one database per service, each database
# owned by its role and closed to everyone else: no service can read another's tables.
#
#   LINLI_DATABASES="trust_governance volunteer_points …"   which databases (= roles) to create
#   <DATABASE>_DB_PASSWORD                                  each role's password, e.g. TRUST_GOVERNANCE_DB_PASSWORD
set -eu

: "${LINLI_DATABASES:?list the service databases in LINLI_DATABASES}"

for db in $LINLI_DATABASES; do
    case "$db" in
        *[!a-z0-9_]*) echo "init-databases: bad database name '$db' (use a-z, 0-9, _)" >&2; exit 1 ;;
    esac
    password_var="$(echo "$db" | tr 'a-z' 'A-Z')_DB_PASSWORD"
    eval "password=\${$password_var:-}"
    if [ -z "$password" ]; then
        echo "init-databases: set $password_var" >&2
        exit 1
    fi
    echo "init-databases: role and database $db"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v db="$db" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'db', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
done
