# Sourced by scripts/pg and scripts/patroni. As root, PostgreSQL (and Patroni) run as the
# `postgres` user, which must be able to reach their directory: open_path_for_postgres DIR makes
# the directories above DIR traversable for it (o+x) where they are not. Nothing when not root.
# `qrpay serve --data-dir ./data` sets ./data back to 0700 on each start, so callers do this on
# every command.
open_path_for_postgres() {
    [ "$(id -u)" = 0 ] || return 0
    local path=$1
    while path=$(dirname "$path") && [ "$path" != / ]; do
        if ! runuser -u postgres -- test -x "$path"; then
            chmod o+x "$path"
        fi
    done
}
