#!/bin/sh
# Rejects calls to functions that are unsafe or hide errors (see shared/STYLE.md, section 13).
root=${1:-.}
pattern='(^|[^.A-Za-z0-9_"])(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|system|popen|alloca|signal|rand|mktemp)\('
found=$(grep -rnE "$pattern" --include='*.c' --include='*.h' \
    "$root/common" "$root/sandbox" "$root/cli" "$root/coordinator" "$root/runner" "$root/stages" 2>/dev/null |
    grep -vE '^\S+:[0-9]+:\s*(/\*|\*|//)')
if [ -n "$found" ]; then
    echo "banned functions used:"
    echo "$found"
    exit 1
fi
echo "banned_functions: 1 passed, 0 failed"
