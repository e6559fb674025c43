#!/bin/sh
# The image's command: Postgres 15 as user postgres, as process 1 (so the
# image's STOPSIGNAL SIGINT is a fast shutdown).
set -eu
install -d -o postgres -g postgres /run/postgresql
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/data
