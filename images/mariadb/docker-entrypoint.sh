#!/bin/bash
# Entry point of the offline MySQL-compatible image (MariaDB 10.11 from Debian). It does what the tutorial
# relies on from the official mysql image with MYSQL_ALLOW_EMPTY_PASSWORD=1: initialise an empty data
# directory, let root connect from any host without a password, then run the server in the foreground.
set -euo pipefail

datadir=/var/lib/mysql
if [[ "${1:-mysqld}" == mysqld || "${1:-}" == mariadbd ]]; then
  [[ $# -gt 0 ]] && shift
  mkdir -p "$datadir" /run/mysqld
  # A clone made by the init container (as root) must belong to the server's user, as in the official image.
  chown -R mysql:mysql "$datadir" /run/mysqld
  if [[ ! -d "$datadir/mysql" ]]; then
    echo "docker-entrypoint: initialising an empty data directory"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
    mysqld --user=mysql --datadir="$datadir" --skip-networking --skip-log-bin --socket=/run/mysqld/init.sock &
    init_pid=$!
    for _ in $(seq 1 120); do
      mysql --socket=/run/mysqld/init.sock -e 'SELECT 1' >/dev/null 2>&1 && break
      sleep 0.5
    done
    mysql --socket=/run/mysqld/init.sock <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    kill "$init_pid"
    wait "$init_pid" || true
    echo "docker-entrypoint: data directory ready"
  fi
  exec mysqld --user=mysql --datadir="$datadir" "$@"
fi
exec "$@"
