#!/usr/bin/env bash
# Installs kelpied as a systemd service (as root), from a release unpacked at /opt/kelpie:
# the unit, the kelpie user and group (member of kvm), /run/kelpie and /var/lib/kelpie, then starts it.
# Users in group kelpie may use the API socket /run/kelpie/kelpied.sock.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
install -m 0644 "$here/kelpie.sysusers.conf" /etc/sysusers.d/kelpie.conf
install -m 0644 "$here/kelpie.tmpfiles.conf" /etc/tmpfiles.d/kelpie.conf
install -m 0644 "$here/kelpied.service" /etc/systemd/system/kelpied.service
systemd-sysusers /etc/sysusers.d/kelpie.conf
systemd-tmpfiles --create /etc/tmpfiles.d/kelpie.conf
systemctl daemon-reload
systemctl enable --now kelpied.service
echo "kelpied installed; status: systemctl status kelpied; logs: journalctl -u kelpied"
