#!/usr/bin/env bash
# Installs kelpied as a launchd service on macOS.
#
#   deploy/launchd/install.sh user     per-user LaunchAgent (~/Library/LaunchAgents), no root needed
#   deploy/launchd/install.sh system   system LaunchDaemon (/Library/LaunchDaemons), as root, user _kelpie
#   deploy/launchd/install.sh sign BINARY...
#                                       ad-hoc codesign BINARY with the hypervisor entitlement (the libkrun
#                                       runner, or a self-built qemu); a Developer ID: KELPIE_SIGN_IDENTITY=...
# Expects the release unpacked at /opt/kelpie (bin/kelpied, lib/, app/). Reinstalling replaces a loaded service.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
label=dev.kelpie.kelpied
die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(uname -s)" = Darwin ] || die "launchd is macOS only; on Linux use deploy/systemd/"

case "${1:-}" in
  user)
    [ "$(id -u)" != 0 ] || die "install the user agent as that user, not root"
    target=$HOME/Library/LaunchAgents/$label.plist
    mkdir -p "$HOME/Library/LaunchAgents" "$HOME/Library/Logs/Kelpie" "$HOME/.kelpie"
    sed "s#@HOME@#$HOME#g" "$here/$label.agent.plist" > "$target.tmp"
    plutil -lint "$target.tmp" >/dev/null || die "the generated plist does not parse"
    mv "$target.tmp" "$target"
    domain=gui/$(id -u)
    ;;
  system)
    [ "$(id -u)" = 0 ] || die "the system daemon needs root (sudo $0 system)"
    if ! dscl . -read /Users/_kelpie >/dev/null 2>&1; then
      die "create the service user first, e.g. with sysadminctl or dscl (user and group _kelpie)"
    fi
    mkdir -p /Library/Logs/Kelpie "/Library/Application Support/Kelpie" /var/run/kelpie /etc/kelpie
    chown _kelpie:_kelpie /Library/Logs/Kelpie "/Library/Application Support/Kelpie" /var/run/kelpie
    chmod 0750 "/Library/Application Support/Kelpie" /var/run/kelpie
    target=/Library/LaunchDaemons/$label.plist
    install -m 0644 -o root -g wheel "$here/$label.plist" "$target"
    domain=system
    ;;
  sign)
    shift
    [ $# -gt 0 ] || die "usage: $0 sign BINARY..."
    for binary in "$@"; do
      codesign --force --sign "${KELPIE_SIGN_IDENTITY:--}" --entitlements "$here/hypervisor.entitlements" "$binary"
      codesign --display --entitlements - "$binary" | grep -q com.apple.security.hypervisor \
        || die "$binary lacks the hypervisor entitlement after signing"
    done
    exit 0
    ;;
  *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

launchctl bootout "$domain/$label" 2>/dev/null || true
launchctl bootstrap "$domain" "$target"
launchctl enable "$domain/$label"
echo "installed $target; logs: $(plutil -extract StandardOutPath raw "$target")"
