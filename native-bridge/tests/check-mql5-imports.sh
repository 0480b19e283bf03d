#!/bin/sh
# Checks the MQL5 #import block against the header: every function mt5bridge.h exports is declared
# in MT5Bridge.mqh, in the same order, with the same return type and the same parameter types
# (int64_t = long, int32_t = int, a pointer = a reference). MQL5 checks none of this when it loads
# the DLL: an import with a parameter missing or of another width passes garbage, it does not fail.
# Usage: check-mql5-imports.sh HEADER MQH
set -eu
header=$1
mqh=$2
tmp=${TMPDIR:-/tmp}/mt5b-imports.$$
trap 'rm -f "$tmp".*' EXIT

# One line per function: "name return type,type,...", each type as base + "&" when by reference.
# Declarations span lines; they are joined up to the closing ");" first.
awk '
    /^MT5B_API/ { on = 1; decl = "" }
    on { decl = decl " " $0; if ($0 ~ /\);/) { on = 0; emit(decl) } }
    function base(t) {
        if (t ~ /int64_t/) return "long"
        if (t ~ /int32_t/) return "int"
        if (t ~ /uint8_t/) return "uchar"
        if (t ~ /double/) return "double"
        return "?" t
    }
    function emit(d,    head, name, ret, args, n, i, p, out) {
        sub(/^[ \t]*MT5B_API[ \t]+/, "", d)
        head = d; sub(/\(.*/, "", head)
        name = head; sub(/.*MT5B_CALL[ \t]+/, "", name)
        ret = base(head)
        args = d; sub(/^[^(]*\(/, "", args); sub(/\);.*/, "", args)
        n = split(args, p, ",")
        out = ""
        for (i = 1; i <= n; i++) out = out (i > 1 ? "," : "") base(p[i]) (p[i] ~ /\*/ ? "&" : "")
        print name, ret, out
    }
' "$header" > "$tmp.want"

awk '
    /^#import "mt5bridge.dll"/ { inside = 1; next }
    /^#import/ { inside = 0 }
    !inside || /^[ \t]*\/\// { next }
    { sub(/\/\/.*/, "") }
    /^(int|long|void|double)[ \t]+mt5b_/ { on = 1; decl = "" }
    on { decl = decl " " $0; if ($0 ~ /\);/) { on = 0; emit(decl) } }
    function emit(d,    ret, name, args, n, i, p, t, out) {
        sub(/^[ \t]+/, "", d)
        ret = d; sub(/[ \t].*/, "", ret)
        name = d; sub(/^[a-z]+[ \t]+/, "", name); sub(/\(.*/, "", name)
        args = d; sub(/^[^(]*\(/, "", args); sub(/\);.*/, "", args)
        n = split(args, p, ",")
        out = ""
        for (i = 1; i <= n; i++) {
            t = p[i]; sub(/^[ \t]+/, "", t)
            ref = (t ~ /&/) ? "&" : ""
            sub(/^const[ \t]+/, "", t); sub(/[ \t&].*/, "", t)
            out = out (i > 1 ? "," : "") t ref
        }
        print name, ret, out
    }
' "$mqh" > "$tmp.got"

if diff -u "$tmp.want" "$tmp.got" > "$tmp.diff"; then
    echo "mql5 imports: $(wc -l < "$tmp.got") functions match $header"
    exit 0
fi
echo "MT5Bridge.mqh #import differs from $header (- header, + MQL5: name return parameters):"
cat "$tmp.diff"
exit 1
