#!/bin/sh
# The image's command: RabbitMQ as user rabbitmq, as process 1.
set -eu
export HOME=/var/lib/rabbitmq
install -d -o rabbitmq -g rabbitmq /var/log/rabbitmq /run/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
