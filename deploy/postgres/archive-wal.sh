#!/bin/sh
# archive_command for the evidence database: archive_command = '.../archive-wal.sh "%p" "%f"'.
# Copies one finished WAL segment into $WAL_ARCHIVE_DIR (default /var/lib/spark-release/wal-archive),
# fsynced, atomically (temp name, then rename). An identical segment already there is success
# (PostgreSQL retries after a crash); a different one is an error, never overwritten.
set -eu
src="$1"; name="$2"
archive="${WAL_ARCHIVE_DIR:-/var/lib/spark-release/wal-archive}"
dest="$archive/$name"
if [ -f "$dest" ]; then
  cmp -s "$src" "$dest" && exit 0
  echo "archive-wal: $dest exists with different content; refusing to overwrite" >&2
  exit 1
fi
cp "$src" "$dest.tmp"
sync "$dest.tmp"
mv "$dest.tmp" "$dest"
sync "$archive"
