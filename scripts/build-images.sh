#!/usr/bin/env bash
# Builds the test images (Postgres 15, RabbitMQ) from Debian packages with
# debootstrap and imports them into podman as localhost/bookworm-NAME:HASH,
# HASH being a hash of the recipe directory internal/testenv/images/NAME (the
# test environment computes the same hash to find its image). An image whose
# recipe did not change is not rebuilt: a warm run takes well under a second.
#
# No registry is reachable on the project's machines, hence no Dockerfile
# FROM; with a real Docker elsewhere, BOOKWORM_TEST_IMAGES=official makes the
# suites pull the official images instead and this script is not needed.
#
# Usage: scripts/build-images.sh [NAME...]   (default: every recipe)
#        scripts/build-images.sh --tag NAME  (prints the image's tag)
set -euo pipefail
cd "$(dirname "$0")/.."
recipes=internal/testenv/images

# recipe_hash NAME: must match internal/testenv's recipeHash.
recipe_hash() {
  (cd "$recipes/$1" && for f in $(ls | LC_ALL=C sort); do printf '%s\n' "$f"; cat "$f"; done) | sha256sum | cut -c1-12
}

# mirror: the Debian mirror apt already uses (deb822 or one-line sources).
mirror() {
  local m
  m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

build() {
  local name=$1 hash tag dir start
  hash=$(recipe_hash "$name")
  tag="localhost/bookworm-$name:$hash"
  if podman image exists "$tag"; then
    echo "images: $tag is up to date"
    return
  fi
  start=$(date +%s)
  dir=$(mktemp -d /var/tmp/bookworm-image-XXXXXX)
  chmod 0755 "$dir"  # the image's /: mktemp makes it 0700, which locks every user but root out
  trap 'rm -rf "$dir"' RETURN
  local pkgs
  pkgs=$(grep -v '^\s*#' "$recipes/$name/packages" | grep -v '^\s*$' | paste -sd, -)
  echo "images: building $tag (debootstrap $pkgs from $(mirror))"
  debootstrap --variant=minbase --include="$pkgs" bookworm "$dir" "$(mirror)" >"$dir.log" 2>&1 \
    || { tail -30 "$dir.log" >&2; exit 1; }
  rm -f "$dir.log"
  # Extensions built on this machine (same Debian, same Postgres major)
  # and copied in: the image needs no compiler.
  if grep -qx pgvector "$recipes/$name/extensions" 2>/dev/null; then
    cp -r "$(bash scripts/build-pgvector.sh)/." "$dir/"
  fi
  install -m 0755 "$recipes/$name/setup.sh" "$dir/tmp/setup.sh"
  chroot "$dir" /tmp/setup.sh
  install -m 0755 "$recipes/$name/start.sh" "$dir/usr/local/bin/start.sh"
  rm -rf "$dir/tmp/setup.sh" "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/doc "$dir"/usr/share/man
  local stop=SIGTERM
  [ "$name" = postgres ] && stop=SIGINT  # Postgres: SIGINT is the fast shutdown
  tar -C "$dir" -c . | podman import --quiet \
    --change 'CMD ["/usr/local/bin/start.sh"]' --change "STOPSIGNAL $stop" \
    --change "LABEL org.bookworm.recipe=$name" - "$tag" >/dev/null
  # Older builds of the same recipe are dead weight.
  podman images --format '{{.Repository}}:{{.Tag}}' "localhost/bookworm-$name" | grep -vx "$tag" | xargs -r podman rmi >/dev/null 2>&1 || true
  echo "images: built $tag in $(( $(date +%s) - start ))s"
}

if [ "${1:-}" = --tag ]; then
  echo "localhost/bookworm-$2:$(recipe_hash "$2")"
  exit 0
fi

# One build at a time, also across test binaries that build a missing image.
exec 9>/var/lock/bookworm-build-images.lock
flock 9

names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(ls "$recipes"))
for n in "${names[@]}"; do build "$n"; done
