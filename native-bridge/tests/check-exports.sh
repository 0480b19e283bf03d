#!/bin/sh
# Checks a Windows DLL against the header: it exports exactly the functions mt5bridge.h declares
# (undecorated names, as MQL5's #import looks them up), and it imports no runtime DLL a VPS may
# lack (libgcc, winpthread, the VC++ runtime): only DLLs that ship with Windows.
# Usage: check-exports.sh DLL HEADER [OBJDUMP]
set -eu
dll=$1
header=$2
objdump=${3:-objdump}
tmp=${TMPDIR:-/tmp}/mt5b-exports.$$
trap 'rm -f "$tmp".*' EXIT

grep -E '^MT5B_API' "$header" | sed -E 's/.*MT5B_CALL[[:space:]]+([a-z0-9_]+)\(.*/\1/' | sort -u > "$tmp.want"
"$objdump" -p "$dll" > "$tmp.dump"
# the export name table: lines "[   n] name" after "[Ordinal/Name Pointer] Table"
awk '/\[Ordinal\/Name Pointer\] Table/ {on=1; next} on && /^[[:space:]]*\[[[:space:]]*[0-9]+\]/ {print $NF; next} on && NF==0 {on=0}' \
    "$tmp.dump" | sort -u > "$tmp.got"
grep -i 'DLL Name:' "$tmp.dump" | awk '{print tolower($3)}' | sort -u > "$tmp.imports"

status=0
if ! diff -u "$tmp.want" "$tmp.got" > "$tmp.diff"; then
    echo "exports differ from $header (- declared, + exported):"
    cat "$tmp.diff"
    status=1
fi
n=$(wc -l < "$tmp.want")
echo "exports: $(wc -l < "$tmp.got") functions ($n declared in the header)"
echo "imports: $(tr '\n' ' ' < "$tmp.imports")"
for lib in $(cat "$tmp.imports"); do
    case "$lib" in
    kernel32.dll|ws2_32.dll|bcrypt.dll|msvcrt.dll|advapi32.dll|ntdll.dll|user32.dll|api-ms-win-*) ;;
    *) echo "imports $lib, which is not part of Windows (static runtime required)"; status=1 ;;
    esac
done
[ "$status" = 0 ] && echo "export check: OK"
exit $status
