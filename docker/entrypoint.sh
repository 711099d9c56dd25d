#!/bin/sh
# The image's entrypoint: `api` (default), `worker` or `migrate`; anything else runs as given.
# Extra arguments after a role go to its command, e.g. `worker --concurrency 2`.
set -eu

role="${1:-api}"
[ "$#" -gt 0 ] && shift

case "$role" in
    api) exec moda serve "$@" ;;  # on MODA_HOST:MODA_PORT (the image: 0.0.0.0:8000)
    worker) exec moda worker "$@" ;;
    migrate) exec moda migrate "$@" ;;
    *) exec "$role" "$@" ;;
esac
