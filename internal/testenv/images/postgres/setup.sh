#!/bin/sh
# Runs once inside the image's root (chroot) at build time: a ready cluster,
# so a container only starts the server (no initdb per container).
set -eu
install -d -o postgres -g postgres /var/lib/postgresql/data /run/postgresql
su postgres -s /bin/sh -c '/usr/lib/postgresql/15/bin/initdb -D /var/lib/postgresql/data --auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8' >/dev/null
echo 'host all all 0.0.0.0/0 trust' >>/var/lib/postgresql/data/pg_hba.conf
echo 'host all all ::/0 trust' >>/var/lib/postgresql/data/pg_hba.conf
# A throwaway test database: durability is not what the suites test (a
# container stop is a clean, fast shutdown), speed is.
cat >>/var/lib/postgresql/data/postgresql.conf <<'CONF'
listen_addresses = '*'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
