#!/bin/sh
# Build Kontiki's static binaries and its two container images, FROM scratch
# (no base image is pulled: nothing but the binaries goes in).
#
#   deploy/build.sh                 binaries into bin/, then kontiki-member:dev and kontiki-nats:dev
#   deploy/build.sh --binaries      binaries only
#   deploy/build.sh --images        images only, from the binaries already in bin/
#
# Environment: KONTIKI_TAG (image tag, default dev, as in the compose files),
# GOARCH (default: the Go toolchain's), DOCKER (default docker).
# Binaries: bin/member, bin/kontiki, bin/nats-server: static linux
# executables (CGO_ENABLED=0), which a linux host runs too.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"

tag=${KONTIKI_TAG:-dev}
docker=${DOCKER:-docker}
do_bin=1
do_img=1
for arg in "$@"; do
	case $arg in
	--binaries) do_img=0 ;;
	--images) do_bin=0 ;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
		exit 0
		;;
	*)
		echo "build.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

now() { date +%s.%N 2>/dev/null || date +%s; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

if [ "$do_bin" = 1 ]; then
	t=$(now)
	mkdir -p bin
	# One go build for the three: packages compile once and in parallel.
	CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)} \
		go build -trimpath -ldflags='-s -w' -o bin/ \
		./cmd/member ./cmd/kontiki ./deploy/nats-server
	echo "build.sh: binaries in bin/ ($(elapsed "$t"))"
fi

if [ "$do_img" = 1 ]; then
	for b in member kontiki nats-server; do
		if [ ! -x "bin/$b" ]; then
			echo "build.sh: bin/$b missing: run deploy/build.sh --binaries first" >&2
			exit 1
		fi
	done
	t=$(now)
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/kontiki-build.XXXXXX")
	trap 'rm -rf "$ctx"' EXIT
	trap 'exit 130' INT TERM
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

	# Staged contexts: only what the image holds, so the context upload is
	# the binaries and nothing else. Hard links when possible, no copies.
	stage() { ln "$1" "$2" 2>/dev/null || cp "$1" "$2"; }
	# rootfs/ is copied whole onto /: COPY of a directory's contents would
	# create /tmp itself as root 0755 and lose the 1777.
	mkdir -p "$ctx/member/data" "$ctx/member/rootfs/tmp" "$ctx/nats/rootfs/tmp"
	chmod 1777 "$ctx/member/rootfs/tmp" "$ctx/nats/rootfs/tmp"
	chmod 0750 "$ctx/member/data"
	stage bin/member "$ctx/member/member"
	stage bin/kontiki "$ctx/member/kontiki"
	cp deploy/member.Dockerfile "$ctx/member/Dockerfile"
	stage bin/nats-server "$ctx/nats/nats-server"
	cp deploy/nats-server/nats.conf "$ctx/nats/nats.conf"
	cp deploy/nats.Dockerfile "$ctx/nats/Dockerfile"

	# The legacy builder (no BuildKit needed); its deprecation notice is
	# shown only when a build fails.
	dbuild() {
		if ! DOCKER_BUILDKIT=0 $docker build -q --label "org.opencontainers.image.revision=$rev" \
			-t "$1" "$2" >/dev/null 2>"$ctx/err"; then
			cat "$ctx/err" >&2
			echo "build.sh: docker build of $1 failed" >&2
			exit 1
		fi
	}
	dbuild "kontiki-member:$tag" "$ctx/member"
	dbuild "kontiki-nats:$tag" "$ctx/nats"
	echo "build.sh: images ($(elapsed "$t")):"
	$docker image ls --format '  {{.Repository}}:{{.Tag}} {{.Size}}' \
		--filter "reference=kontiki-member:$tag" --filter "reference=kontiki-nats:$tag"
fi
