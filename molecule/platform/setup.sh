#!/usr/bin/env bash
# Sets up the container platform that Molecule and the lab run on, and says what it did.
#
#   1. podman, runc and debootstrap from Debian's packages, when missing (root on Debian 12);
#   2. the base image localhost/mailstack-debian:bookworm (systemd, python3), built with
#      debootstrap when missing or when its recipe changed, reused otherwise;
#   3. a probe: a container from that image must start and boot systemd. Only when it fails
#      are podman's runtime settings changed (explicit ulimits, then runc instead of crun),
#      in a drop-in file of our own, each change said aloud and probed again;
#   4. the project's podman networks, each with a fixed subnet: mailstack-molecule for the
#      Molecule scenarios, mailstack-lab (IPv4 and IPv6) for the lab;
#   5. the package cache: a container, mailstack-apt-cache, running apt-cacher-ng at the .254
#      address of both networks, its cache kept in the podman volume of the same name. The
#      image's apt uses it when it answers (Proxy-Auto-Detect) and goes direct otherwise, so
#      repeated runs download each package once.
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
RECIPE="v4 $SUITE $INCLUDE apt-proxy-detect unsafe-io no-translations"
DROPIN=/etc/containers/containers.conf.d/50-mailstack.conf
# The project's own networks: containers get fixed addresses in them and tests address
# nothing else. Molecule's scenarios use the first, the lab (inventories/lab) the second.
MOLECULE_NETWORK=mailstack-molecule
MOLECULE_SUBNET=10.231.250.0/24
LAB_NETWORK=mailstack-lab
LAB_SUBNET=10.231.0.0/24
LAB_SUBNET6=fd00:6d61:696c::/64
# The package cache, at .254 on both networks (and ::254 on the lab's IPv6 subnet: an address
# left to podman would be the first free one, ::2, which is dns.lab.test's).
CACHE=mailstack-apt-cache
CACHE_IP6=${LAB_SUBNET6%/*}254
CACHE_PORT=3142

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
  # apt asks this script for a proxy: the package cache when it answers, else direct.
  install -m 0755 /dev/stdin "$root/usr/local/lib/mailstack-apt-proxy" <<'DETECT'
#!/bin/bash
# mailstack's test image only: apt's Proxy-Auto-Detect. The package cache answers at .254 of
# the network this container is on (molecule/platform/setup.sh); without it, apt goes direct.
gw=$(ip -4 route show default 2>/dev/null | awk '{print $3; exit}')
if [ -n "$gw" ] && timeout 1 bash -c "exec 3<>/dev/tcp/${gw%.*}.254/3142" 2>/dev/null; then
  echo "http://${gw%.*}.254:3142"
else
  echo DIRECT
fi
DETECT
  echo 'Acquire::http::Proxy-Auto-Detect "/usr/local/lib/mailstack-apt-proxy";' \
    >"$root/etc/apt/apt.conf.d/01mailstack-proxy"
  # The containers of this image are thrown away, never recovered after a crash: dpkg need not
  # sync every file it unpacks (about a tenth of an install), nor apt fetch the translations
  # of package descriptions.
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/01mailstack-unsafe-io"
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/01mailstack-no-translations"
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

# ensure_network NAME SUBNET [IPV6_SUBNET]
ensure_network() {
  local name=$1 want="$2${3:+ $3}"
  if podman network exists "$name"; then
    local have
    have=$(podman network inspect --format '{{range .Subnets}}{{.Subnet}} {{end}}' "$name")
    [ "${have% }" = "$want" ] && return 0
    die "the podman network $name exists with subnets ${have% }, not $want: remove it (podman network rm $name)"
  fi
  podman network create --subnet "$2" ${3:+--ipv6 --subnet "$3"} "$name" >/dev/null
  say "created the podman network $name ($want)"
}

# The package cache: created once and reused while it runs. A container in any other state
# (stopped, or stuck "stopping" as podman 4.3 leaves one whose network teardown failed) is
# removed and created again: the packages are in the volume, which outlives it.
start_apt_cache() {
  podman rm -f -t 0 "$CACHE" >/dev/null 2>&1 || true
  say "starting the package cache $CACHE (apt-cacher-ng, volume $CACHE)"
  podman run -d --name "$CACHE" --systemd=always --label mailstack.platform=apt-cache \
    --network "$MOLECULE_NETWORK:ip=${MOLECULE_SUBNET%.*/*}.254" \
    --network "$LAB_NETWORK:ip=${LAB_SUBNET%.*/*}.254,ip6=$CACHE_IP6" \
    -v "$CACHE:/var/cache/apt-cacher-ng" "$IMAGE" >/dev/null
}

# Waits for systemd in the cache container; fails at once when the container is not running.
cache_booted() {
  local i
  for i in $(seq 30); do
    [ "$(podman container inspect --format '{{.State.Status}}' "$CACHE" 2>/dev/null)" = running ] || return 1
    # A container podman still lists as running after its processes died (the machine was
    # restored or restarted under it) refuses every exec.
    podman exec "$CACHE" true 2>/dev/null || return 1
    podman exec "$CACHE" systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded' && return 0
    sleep 1
  done
  return 1
}

ensure_apt_cache() {
  local state
  state=$(podman container inspect --format '{{.State.Status}}' "$CACHE" 2>/dev/null || true)
  local i
  if [ "$state" = running ] && ! podman container inspect \
      --format '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}} {{end}}' "$CACHE" \
      | grep -qw "$CACHE_IP6"; then
    say "the package cache $CACHE is not at $CACHE_IP6: replacing it"
    state=misplaced
  fi
  if [ "$state" != running ] || ! cache_booted; then
    [ -z "$state" ] || [ "$state" = misplaced ] || say "the package cache $CACHE is $state: replacing it"
    start_apt_cache
    cache_booted || die "the package cache $CACHE does not boot (podman logs $CACHE)"
  fi
  if ! podman exec "$CACHE" systemctl is-active --quiet apt-cacher-ng 2>/dev/null; then
    # Installed without starting (policy-rc.d), since the volume mounted over its cache
    # directory belongs to root until it is given to the cache's user.
    podman exec -e DEBIAN_FRONTEND=noninteractive "$CACHE" bash -c '
      set -e
      printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
      trap "rm -f /usr/sbin/policy-rc.d" EXIT
      dpkg --configure -a >/dev/null 2>&1 || true
      apt-get update -qq && apt-get install -y -qq --no-install-recommends apt-cacher-ng >/dev/null 2>&1
      chown -R apt-cacher-ng:apt-cacher-ng /var/cache/apt-cacher-ng
      # Debian mirror requests go to the mirror the image names, not to the package default.
      echo "$0" >/etc/apt-cacher-ng/backends_debian
      systemctl enable --quiet --now apt-cacher-ng 2>/dev/null && systemctl restart apt-cacher-ng' "$MIRROR/" \
      || die "installing apt-cacher-ng in $CACHE failed"
  fi
  for i in $(seq 30); do
    podman exec "$CACHE" bash -c "exec 3<>/dev/tcp/127.0.0.1/$CACHE_PORT" 2>/dev/null && {
      say "package cache ready at ${MOLECULE_SUBNET%.*/*}.254 and ${LAB_SUBNET%.*/*}.254:$CACHE_PORT"
      return 0
    }
    sleep 1
  done
  die "the package cache $CACHE does not answer on port $CACHE_PORT"
}

main() {
  install_packages
  command -v podman >/dev/null || die "podman is missing"
  build_image
  configure_runtime
  ensure_network "$MOLECULE_NETWORK" "$MOLECULE_SUBNET"
  ensure_network "$LAB_NETWORK" "$LAB_SUBNET" "$LAB_SUBNET6"
  ensure_apt_cache
}

main "$@"
