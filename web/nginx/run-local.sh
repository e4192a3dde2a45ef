#!/usr/bin/env bash
# Runs the web edge locally in front of services started one per process
# (`socialdevs serve --services users` on 8081, posts on 8082, ...), from the same
# template the container uses. Needs nginx and envsubst (gettext-base) and a built web/dist.
#
#   web/nginx/run-local.sh            # http://127.0.0.1:8080
#   SOCIALDEVS_WEB_LISTEN=9090 web/nginx/run-local.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
web="$(dirname "$here")"

export SOCIALDEVS_USERS_UPSTREAM="${SOCIALDEVS_USERS_UPSTREAM:-127.0.0.1:8081}"
export SOCIALDEVS_POSTS_UPSTREAM="${SOCIALDEVS_POSTS_UPSTREAM:-127.0.0.1:8082}"
export SOCIALDEVS_TIMELINE_UPSTREAM="${SOCIALDEVS_TIMELINE_UPSTREAM:-127.0.0.1:8083}"
export SOCIALDEVS_NOTIFICATIONS_UPSTREAM="${SOCIALDEVS_NOTIFICATIONS_UPSTREAM:-127.0.0.1:8084}"
export SOCIALDEVS_WEB_LISTEN="${SOCIALDEVS_WEB_LISTEN:-127.0.0.1:8080}"
export SOCIALDEVS_WEB_ROOT="${SOCIALDEVS_WEB_ROOT:-$web/dist}"
mime_types="${NGINX_MIME_TYPES:-/etc/nginx/mime.types}"

for tool in nginx envsubst; do
  command -v "$tool" >/dev/null || { echo "run-local.sh: $tool is missing (apt-get install nginx gettext-base)" >&2; exit 1; }
done
[[ -f "$SOCIALDEVS_WEB_ROOT/index.html" ]] || { echo "run-local.sh: build the app first (cd web && npm run build)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/socialdevs-web.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/conf.d"
# Only our variables are substituted; nginx's own ($uri, $host, ...) stay as they are.
# shellcheck disable=SC2016
vars='${SOCIALDEVS_USERS_UPSTREAM} ${SOCIALDEVS_POSTS_UPSTREAM} ${SOCIALDEVS_TIMELINE_UPSTREAM} ${SOCIALDEVS_NOTIFICATIONS_UPSTREAM} ${SOCIALDEVS_WEB_LISTEN} ${SOCIALDEVS_WEB_ROOT}'
envsubst "$vars" <"$here/templates/default.conf.template" >"$work/conf.d/default.conf"
sed -e "s#/tmp/#$work/#g" -e "s#/etc/nginx/mime.types#$mime_types#" "$here/nginx.conf" >"$work/nginx.conf"
# Started by root, nginx would run its workers as nobody, who cannot read private folders.
if [[ "$(id -u)" == 0 ]]; then
  sed -i '1i user root;' "$work/nginx.conf"
fi

if [[ "${1:-}" == "--test" ]]; then
  nginx -t -p "$work" -c "$work/nginx.conf"
  exit
fi
echo "SocialDevs web edge on http://$SOCIALDEVS_WEB_LISTEN (Ctrl-C to stop)"
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
# Stopping this script stops nginx (and the EXIT trap removes the rendered files).
trap 'kill -TERM "$nginx_pid" 2>/dev/null || true' INT TERM
wait "$nginx_pid" || true
wait "$nginx_pid" 2>/dev/null || true
