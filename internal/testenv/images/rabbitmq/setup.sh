#!/bin/sh
# Runs once inside the image's root (chroot) at build time.
set -eu
mkdir -p /etc/rabbitmq
# guest/guest from outside the container (through the mapped port); logs on
# the console, where the container's log (and its wait strategy) sees them.
cat >/etc/rabbitmq/rabbitmq.conf <<'CONF'
loopback_users = none
log.console = true
log.console.level = info
log.file = false
CONF
# One node name in every container, so a restarted container finds its data.
cat >/etc/rabbitmq/rabbitmq-env.conf <<'CONF'
NODENAME=rabbit@localhost
CONF
chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq
