#!/bin/sh
# restore_command for point-in-time recovery: restore_command = '.../restore-wal.sh "%f" "%p"'.
# Copies one archived WAL segment from $WAL_ARCHIVE_DIR to where PostgreSQL asks. A missing
# segment exits non-zero, which PostgreSQL reads as "end of the archive", as it should.
set -eu
name="$1"; dest="$2"
archive="${WAL_ARCHIVE_DIR:-/var/lib/spark-release/wal-archive}"
[ -f "$archive/$name" ] || exit 1
cp "$archive/$name" "$dest"
