#!/usr/bin/env bash
# Installs what bench/compare drives: iperf3, Open vSwitch (userspace
# datapath), ethtool, iproute2, ping and curl. Debian/Ubuntu, as root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/compare/deps.sh: must run as root (it installs packages with apt-get; the benchmark itself also needs root for network namespaces)" >&2
	exit 1
fi

# command -> Debian package
declare -A want=(
	[iperf3]=iperf3
	[ovs-vswitchd]=openvswitch-switch
	[ethtool]=ethtool
	[ip]=iproute2
	[ping]=iputils-ping
	[curl]=curl
)
missing=()
for cmd in "${!want[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
		missing+=("${want[$cmd]}")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "bench/compare/deps.sh: all present (iperf3, openvswitch-switch, ethtool, iproute2, iputils-ping, curl)"
	exit 0
fi
echo "bench/compare/deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d keeps the packaged openvswitch-switch service from starting a
# system-wide OVS: the benchmark runs its own, with private run directories.
apt-get install -y -q --no-install-recommends "${missing[@]}"
