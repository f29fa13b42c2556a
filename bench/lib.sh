# Sourced by the bench scripts that time faults (bench/failover, bench/storage-failover).

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_until COMMAND...: runs it every 10 ms until it succeeds; 60 s at most.
wait_until() {
    local i
    for i in $(seq 1 6000); do
        "$@" && return 0
        sleep 0.01
    done
    echo "gave up waiting for: $*" >&2
    return 1
}

# stats VALUES...: "p50 p99 max" (nearest rank).
stats() {
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {
        p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.99 + 0.999); if (i > NR) i = NR
        printf "%d %d %d", p50, v[i], v[NR] }'
}

# replace_section TITLE TEXT FILE: puts TEXT (which starts with "## TITLE") in place of FILE's
# section of that title, when FILE has one.
replace_section() {
    local title=$1 text=$2 file=$3
    if [ -f "$file" ] && grep -q "^## $title\$" "$file"; then
        awk -v section="$text" -v title="## $title" '
            $0 == title {print section; skip = 1; next}
            skip && /^## / {skip = 0}
            !skip {print}' "$file" >"$file.new"
        mv "$file.new" "$file"
        echo "written to $file"
    fi
}
