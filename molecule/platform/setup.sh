#!/usr/bin/env bash
# Sets up the container platform that Molecule and the lab run on, and says what it did.
#
#   1. podman, runc and debootstrap from Debian's packages, when missing (root on Debian 12);
#   2. the base image localhost/mailstack-debian:bookworm (systemd, python3), built with
#      debootstrap when missing or when its recipe changed, reused otherwise;
#   3. a probe: a container from that image must start and boot systemd. Only when it fails
#      are podman's runtime settings changed (explicit ulimits, then runc instead of crun),
#      in a drop-in file of our own, each change said aloud and probed again.
#
# Environment: MAILSTACK_IMAGE (image name), MAILSTACK_DEBIAN_MIRROR (Debian mirror URL).
set -euo pipefail

IMAGE=${MAILSTACK_IMAGE:-localhost/mailstack-debian:bookworm}
MIRROR=${MAILSTACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${MAILSTACK_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
# Packages of the base image: what systemd as init and Ansible need, nothing more.
INCLUDE=python3,python3-apt,systemd,systemd-sysv,iproute2,ca-certificates
# Changing the recipe (this number or the package list) makes the next run rebuild the image.
RECIPE="v2 $SUITE $INCLUDE"
DROPIN=/etc/containers/containers.conf.d/50-mailstack.conf
# The project's own network for Molecule scenarios: containers get fixed addresses in it and
# tests address nothing else.
NETWORK=mailstack-molecule
SUBNET=10.231.250.0/24

say() { printf 'platform: %s\n' "$*"; }
die() { printf 'platform: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
is_debian12() {
  [ -r /etc/os-release ] && . /etc/os-release && [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]
}

# What the platform needs from Debian: podman with runc, netavark and the iptables it drives,
# aardvark-dns for names on project networks, and debootstrap to build the image.
PACKAGES=(podman runc netavark aardvark-dns iptables debootstrap uidmap)

dpkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

install_packages() {
  if ! is_root || ! is_debian12; then
    command -v podman >/dev/null && return 0
    die "podman is missing. mailstack installs it by itself as root on Debian 12
  (run: sudo make test). Elsewhere, install podman (4.3 or newer) with runc, and build or load
  the image $IMAGE yourself (see molecule/platform/setup.sh for its recipe)."
  fi
  local missing=() p
  for p in "${PACKAGES[@]}"; do dpkg_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || die "apt-get install ${missing[*]} failed"
}

recipe_hash() { printf '%s' "$RECIPE" | sha256sum | cut -c1-16; }

build_image() {
  local want have
  want=$(recipe_hash)
  if podman image exists "$IMAGE"; then
    have=$(podman image inspect --format '{{ index .Config.Labels "mailstack.recipe" }}' "$IMAGE" 2>/dev/null || true)
    if [ "$have" = "$want" ]; then
      say "reusing image $IMAGE (recipe $want)"
      return 0
    fi
    say "image $IMAGE was built from another recipe ($have); rebuilding"
  fi
  is_root || die "the image $IMAGE is missing and building it needs root (debootstrap): run sudo make test once"
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
  local root
  root=$(mktemp -d /var/tmp/mailstack-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  say "building $IMAGE with debootstrap from $MIRROR (about a minute)"
  local t0=$SECONDS
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; die "debootstrap failed (log above)"; }
  rm -f "$root.log"
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # No stale package lists or machine identity in the image: each container makes its own.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  # Dated at the epoch, the empty lists look stale to apt's users (Ansible's cache_valid_time).
  touch -d @0 "$root/var/lib/apt/lists"
  : >"$root/etc/machine-id"
  tar -C "$root" -c . | podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change "LABEL mailstack.recipe=$want" \
    --change 'ENV container=podman' \
    - "$IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
  say "built $IMAGE in $((SECONDS - t0)) s"
}

# A container that starts and boots systemd to "running" (or "degraded": a unit that cannot
# run in a container is not the platform's failure).
probe() {
  local name=mailstack-probe-$$ state=""
  podman rm -f "$name" >/dev/null 2>&1 || true
  if ! podman run -d --name "$name" --systemd=always "$IMAGE" >/dev/null 2>"/tmp/$name.err"; then
    PROBE_ERROR=$(tail -n 3 "/tmp/$name.err" | tr "\n" " "); rm -f "/tmp/$name.err"
    podman rm -f "$name" >/dev/null 2>&1 || true
    return 1
  fi
  rm -f "/tmp/$name.err"
  local i
  for i in $(seq 60); do
    state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  case "$state" in
    running|degraded) return 0 ;;
    *) PROBE_ERROR="systemd in the container did not come up (state: ${state:-none})"; return 1 ;;
  esac
}

# Our drop-in holds only the settings that a failing probe asked for.
write_dropin() {
  mkdir -p "$(dirname "$DROPIN")"
  {
    echo "# Written by mailstack's molecule/platform/setup.sh because a probe container failed"
    echo "# without it. Remove this file to go back to podman's defaults."
    if [ -n "$WANT_ULIMITS" ]; then
      echo "[containers]"
      echo 'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]'
    fi
    if [ -n "$WANT_RUNC" ]; then
      echo "[engine]"
      echo 'runtime = "runc"'
    fi
  } >"$DROPIN"
}

# Probe; on a failure that one of the verified settings cures, apply it, say so, and probe
# again. Any other failure stops here with podman's own words.
configure_runtime() {
  WANT_ULIMITS=""; WANT_RUNC=""
  if [ -f "$DROPIN" ]; then
    grep -q default_ulimits "$DROPIN" && WANT_ULIMITS=1
    grep -q runc "$DROPIN" && WANT_RUNC=1
  fi
  local tries
  for tries in 1 2 3; do
    PROBE_ERROR=""
    if probe; then
      say "probe container boots systemd: podman is ready ($(podman info --format '{{.Host.OCIRuntime.Name}}'))"
      return 0
    fi
    say "probe container failed: $PROBE_ERROR"
    case "$PROBE_ERROR" in
      *rlimit*)
        [ -z "$WANT_ULIMITS" ] || break
        WANT_ULIMITS=1
        say "setting explicit container ulimits (nofile 20000, nproc 4096) in $DROPIN" ;;
      *"cgroups in hybrid mode"*|*crun*)
        [ -z "$WANT_RUNC" ] || break
        WANT_RUNC=1
        say "switching podman's runtime from crun to runc in $DROPIN" ;;
      *) break ;;
    esac
    is_root || die "changing podman's settings needs root"
    write_dropin
  done
  die "a container from $IMAGE does not start: $PROBE_ERROR"
}

ensure_network() {
  if podman network exists "$NETWORK"; then
    local have
    have=$(podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "$NETWORK")
    [ "$have" = "$SUBNET" ] && return 0
    die "the podman network $NETWORK exists with subnet $have, not $SUBNET: remove it (podman network rm $NETWORK)"
  fi
  podman network create --subnet "$SUBNET" "$NETWORK" >/dev/null
  say "created the podman network $NETWORK ($SUBNET)"
}

main() {
  install_packages
  command -v podman >/dev/null || die "podman is missing"
  build_image
  configure_runtime
  ensure_network
}

main "$@"
