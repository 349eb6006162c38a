#!/bin/sh
# One random secret per OAuth client at the token issuer, for docker-compose.yml: identity mounts
# them all (and registers each client with its secret), every other service only its own. Files
# that exist are kept (re-running rotates nothing); delete one and re-run to rotate that client,
# then restart identity and the client's service. The directory is the operator's alone (0700);
# each file is readable inside its container (compose bind-mounts it as is). Never commit them.
set -eu
dir="$(dirname "$0")/secrets"
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
for client in svc-trust-governance svc-volunteer-points svc-partner-redemption svc-notification svc-portal \
              linli-portal; do
  file="$dir/$client.secret"
  if [ ! -s "$file" ]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$file"
    echo "wrote $file"
  fi
  chmod 644 "$file"
done
