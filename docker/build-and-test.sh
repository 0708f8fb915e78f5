#!/usr/bin/env bash
# Builds the workshop image and smoke-tests it: starts a container, waits
# until JupyterLab answers on 127.0.0.1, executes the first notebook inside
# the container, stops it. Prints the image's size and the build's time.
#
#   docker/build-and-test.sh                              # FROM python:3.11-slim-bookworm
#   BASE_IMAGE=debian-bookworm:local docker/build-and-test.sh
#
# Environment:
#   IMAGE       the tag to build (default zooapi-workshop:latest)
#   BASE_IMAGE  the base image (the Dockerfile's BASE); where no registry is
#               reachable, make one locally:
#                 sudo debootstrap --variant=minbase bookworm /tmp/bookworm http://deb.debian.org/debian
#                 sudo tar -C /tmp/bookworm -c . | docker import - debian-bookworm:local
#   NETWORK     the build's and the container's network (default: Docker's);
#               "host" where only the host reaches the package registries
#   EXTRA_CA    a CA bundle (PEM) for pip behind a TLS-inspecting proxy,
#               e.g. /etc/ssl/certs/ca-certificates.crt; copied into the build
#   PORT        the host port for JupyterLab (default 18888; with
#               NETWORK=host the container's own 8888)
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-zooapi-workshop:latest}
TOKEN=smoke-$RANDOM$RANDOM
NAME=zooapi-workshop-smoke-$$
network_args=()
[ -n "${NETWORK:-}" ] && network_args=(--network "$NETWORK")
build_args=()
[ -n "${BASE_IMAGE:-}" ] && build_args+=(--build-arg "BASE=$BASE_IMAGE")

# The build context: the committed files (git archive) plus the CA bundle, so
# that neither .venv nor anything uncommitted is sent to the daemon.
context=$(mktemp -d)
trap 'rm -rf "$context"; docker rm -f "$NAME" >/dev/null 2>&1 || true' EXIT
git archive --format=tar HEAD | tar -x -C "$context"
if [ -n "${EXTRA_CA:-}" ]; then
  cp "$EXTRA_CA" "$context/docker/extra-ca.pem"
  build_args+=(--build-arg "EXTRA_CA=docker/extra-ca.pem")
fi

start=$(date +%s)
docker build "${network_args[@]}" "${build_args[@]}" -t "$IMAGE" -f "$context/docker/Dockerfile" "$context"
built=$(date +%s)
size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
echo "built $IMAGE in $((built - start)) s; size $((size / 1000000)) MB"

if [ "${NETWORK:-}" = host ]; then
  port=8888; publish=()
else
  port=${PORT:-18888}; publish=(-p "127.0.0.1:$port:8888" -p "127.0.0.1:$((port + 1)):6006")
fi
docker run -d --name "$NAME" "${network_args[@]}" "${publish[@]}" -e JUPYTER_TOKEN="$TOKEN" "$IMAGE" >/dev/null
for _ in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$port/api/status?token=$TOKEN" >/dev/null 2>&1; then break; fi
  sleep 1
done
curl -fsS "http://127.0.0.1:$port/api/status?token=$TOKEN"; echo
echo "JupyterLab answers on 127.0.0.1:$port after $(( $(date +%s) - built )) s"
docker exec "$NAME" sh -c 'for i in $(seq 60); do curl -fsS -o /dev/null http://127.0.0.1:6006/ && exit 0; sleep 1; done; exit 1'
echo "TensorBoard answers on 6006 in the container"

# The first notebook, top to bottom, in the container's kernel.
first=$(cd tutorials && ls [0-9]*.ipynb | head -1)
nb_start=$(date +%s)
docker exec -w /home/zoo/tutorials "$NAME" \
  jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=900 --output "/tmp/$first" "$first"
echo "executed $first in the container in $(( $(date +%s) - nb_start )) s"
docker stop "$NAME" >/dev/null
echo "smoke test passed: $IMAGE ($((size / 1000000)) MB, built in $((built - start)) s)"
