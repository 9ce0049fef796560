#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""scripts/refactor/state-accessors.py - rewrite field accesses of the
opaque struct cust_state into its accessors (include/state.h).

    python3 scripts/refactor/state-accessors.py [-n] [FILE.c ...]

Default files: every src/*/*.c outside src/state/, tests/unit/*/*.c,
tests/fuzz/*.c and bench/*.c (headers are fixed through the .c files that
include them). The compiler decides what to rewrite: each file is compiled
with -fsyntax-only, and only the expressions it reports as a use of the
incomplete type 'struct cust_state' are rewritten, so fields of the same
name in other structs (struct audit's st, a job's store, ...) are never
touched. Read accesses become calls:

    X->dir     -> state_dir(X)        X->store   -> state_store(X)
    X->seal    -> state_seal(X)       X->audit   -> state_audit(X)
    X->scratch -> state_scratch(X)    X->dirfd   -> state_dirfd(X)
    X->ca_cache -> state_ca_cache(X)

A line the rewrite made longer than 80 columns loses its trailing comment
to a line of its own above it, or is broken after its last
", " (outside a string) that fits, continued with the line's indent plus
four spaces (KNF). Repeated until the compiler reports nothing new (idempotent: a second run
changes nothing). Whatever it cannot rewrite (an assignment to a field,
&X->field, a field with no accessor) is printed as "manual: FILE:LINE:COL"
and the script exits 1: fix those by hand, then run `make`. -n: only list.
Needs gcc 11 or newer (byte columns in its diagnostics) and the build's
pkg-config packages; run from anywhere, it works in the tree it is in.
"""
import difflib
import os
import re
import subprocess
import sys

ACCESSORS = {
    "dir": "state_dir", "store": "state_store", "seal": "state_seal",
    "audit": "state_audit", "scratch": "state_scratch",
    "dirfd": "state_dirfd", "ca_cache": "state_ca_cache",
}
KEYWORDS = {"return", "sizeof", "case", "else", "do", "goto", "_Alignof"}
ERR = re.compile(r"^(?P<f>[^:\n]+):(?P<l>\d+):(?P<c>\d+): error: "
                 r"(invalid use of undefined type|dereferencing pointer to "
                 r"incomplete type) 'struct cust_state'")
IDENT = re.compile(r"[A-Za-z0-9_]")


def cflags():
    pk = subprocess.run(
        ["pkg-config", "--cflags", "openssl", "libsodium", "sqlite3",
         "jansson", "yaml-0.1"], capture_output=True, text=True).stdout
    return (["-fsyntax-only", "-std=c11", "-D_GNU_SOURCE", "-Iinclude",
             "-Isrc", "-Itests/unit/support", "-Itests/unit/ca",
             "-fdiagnostics-column-unit=byte", "-fmax-errors=0",
             "-fno-diagnostics-show-caret", "-w"] + pk.split())


def errors(cc, flags, path):
    env = dict(os.environ, LC_ALL="C")
    p = subprocess.run([cc] + flags + [path], capture_output=True,
                       text=True, env=env)
    out = []
    for line in p.stderr.splitlines():
        m = ERR.match(line)
        if m:
            out.append((os.path.normpath(m["f"]), int(m["l"]),
                        int(m["c"])))
    return out


def skip_ws_back(s, j):
    while j >= 0 and s[j] in " \t\n":
        j -= 1
    return j


def match_back(s, j):
    """s[j] is ')' or ']': index of the matching opener."""
    close = s[j]
    opener = "(" if close == ")" else "["
    depth = 0
    while j >= 0:
        if s[j] == close:
            depth += 1
        elif s[j] == opener:
            depth -= 1
            if depth == 0:
                return j
        j -= 1
    return -1


def base_start(s, arrow):
    """Start of the postfix expression that ends just before s[arrow]."""
    j = skip_ws_back(s, arrow - 1)
    start = None
    while j >= 0:
        if s[j] in ")]":
            k = match_back(s, j)
            if k < 0:
                return None
            start = k
            j = skip_ws_back(s, k - 1)
            if s[start] == "(" and (j < 0 or not (IDENT.match(s[j]) or
                                                  s[j] == "]")):
                return start		# a parenthesised expression (after
                                        # a cast, too: "(void)(st)->dir")
            continue
        if IDENT.match(s[j]):
            k = j
            while k > 0 and IDENT.match(s[k - 1]):
                k -= 1
            word = s[k:j + 1]
            if word in KEYWORDS:
                return start
            start = k
            j = skip_ws_back(s, k - 1)
            if j >= 1 and s[j - 1:j + 1] == "->":
                j = skip_ws_back(s, j - 2)
                continue
            if j >= 0 and s[j] == ".":
                j = skip_ws_back(s, j - 1)
                continue
            return start
        return start
    return start


def rewrite_one(s, off):
    """An edit (start, end, text) for the access at s[off], or None."""
    if s[off:off + 2] != "->":
        return None
    m = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)").match(s, off + 2)
    if not m or m.group(1) not in ACCESSORS:
        return None
    end = m.end()
    after = s[end:end + 3].lstrip()
    if (re.match(r"([-+*/%&|^]|<<|>>)?=(?!=)", after) or
            after.startswith("++") or after.startswith("--")):
        return None			# assigned to: by hand
    start = base_start(s, off)
    if start is None:
        return None
    before = s[:start].rstrip()
    if before.endswith("&") and not before.endswith("&&"):
        return None			# address taken: by hand
    if before.endswith("++") or before.endswith("--"):
        return None
    base = s[start:off].rstrip()
    return (start, end, "%s(%s)" % (ACCESSORS[m.group(1)], base))


def width(line):
    return len(line.expandtabs(8))


def break_at(line):
    """Index after the last ', ' outside a string that fits 80 columns."""
    best, instr, esc = None, None, False
    for i, ch in enumerate(line):
        if instr:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == instr:
                instr = None
            continue
        if ch in "\"'":
            instr = ch
        elif ch == "," and line[i + 1:i + 2] == " ":
            if width(line[:i + 1]) <= 80:
                best = i + 1
    return best


def cont_indent(line):
    indent = re.match(r"[ \t]*", line).group(0)
    return indent if indent.endswith("    ") else indent + "    "


def rewrap_changed(old, new):
    """Break the changed lines wider than 80 columns; the part that moves
    down joins the next line when that continues the same statement and
    the two fit, else it gets a line of its own."""
    a, b = old.split("\n"), new.split("\n")
    todo = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            todo.update(range(j1, j2))
    i = 0
    while i < len(b):
        line = b[i]
        m = re.match(r"([ \t]*)(\S.*?)[ \t]+(/\*.*\*/)[ \t]*$", line)
        if (i in todo and width(line) > 80 and m and
                width(m.group(1) + m.group(3)) <= 80):
            # a trailing comment that no longer fits goes above
            b[i:i + 1] = [m.group(1) + m.group(3), m.group(1) + m.group(2)]
            todo = {t + 1 if t > i else t for t in todo}
            todo.add(i + 1)
            i += 1
            continue
        k = break_at(line) if i in todo and width(line) > 80 else None
        if k is None or not line[:k].strip():
            i += 1
            continue
        cont = cont_indent(line)
        head, tail = line[:k].rstrip(), line[k:].strip()
        nxt = b[i + 1] if i + 1 < len(b) else None
        ends = line.rstrip().endswith((";", "{", "}"))
        joined = None
        if nxt is not None:
            joined = cont + tail + " " + nxt.lstrip()
            if (tail.endswith('"') and nxt.lstrip().startswith('"') and
                    "\\" not in tail):
                # "abc " "def": one literal, "abc def"
                joined = cont + tail[:-1] + nxt.lstrip()[1:]
        if (joined is not None and not ends and
                re.match(r"[ \t]*", nxt).group(0) == cont and
                width(joined) <= 80):
            b[i + 1] = joined
        else:
            b.insert(i + 1, cont + tail)
            todo = {t + 1 if t > i else t for t in todo}
        todo.add(i + 1)
        b[i] = head
        i += 1
    return "\n".join(b)


def offset(s, line, col):
    pos = 0
    for _ in range(line - 1):
        pos = s.index("\n", pos) + 1
    return pos + col - 1


def default_files():
    out = []
    for top in ("src", "tests/unit", "tests/fuzz", "bench"):
        for d, _, fs in os.walk(top):
            if d.startswith("src/state"):
                continue
            out += [os.path.join(d, f) for f in fs if f.endswith(".c")]
    return sorted(out)


def main(argv):
    dry = "-n" in argv
    files = [os.path.abspath(a) for a in argv if a != "-n"]
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    os.chdir(top)
    files = [os.path.relpath(a) for a in files] or default_files()
    cc = "gcc"		# >= 11: -fdiagnostics-column-unit, its messages
    flags = cflags()
    changed, manual, orig = set(), {}, {}
    for src in files:
        for _ in range(20):		# until nothing changes
            last = {}			# what this pass could not rewrite
            errs = errors(cc, flags, src)
            byfile = {}
            for f, l, c in errs:
                byfile.setdefault(f, set()).add((l, c))
            progress = False
            for f, locs in byfile.items():
                with open(f) as fh:
                    s = fh.read()
                edits = []
                for l, c in sorted(locs):
                    e = rewrite_one(s, offset(s, l, c))
                    if e is None:
                        last["%s:%d:%d" % (f, l, c)] = True
                    else:
                        edits.append(e)
                # right to left; an edit overlapping one already taken
                # waits for the next pass
                edits.sort(reverse=True)
                taken, lo = [], None
                for e in edits:
                    if lo is None or e[1] <= lo:
                        taken.append(e)
                        lo = e[0]
                if not taken or dry:
                    continue
                orig.setdefault(f, s)
                for a, b, t in taken:
                    s = s[:a] + t + s[b:]
                with open(f, "w") as fh:
                    fh.write(s)
                changed.add(f)
                progress = True
            if not progress:
                break
        if last:
            manual[src] = True
    for f in sorted(changed):
        with open(f) as fh:
            s = fh.read()
        s = rewrap_changed(orig[f], s)
        with open(f, "w") as fh:
            fh.write(s)
        print("rewrote: " + f)
    left = set()		# where they are now that lines moved
    for src in manual:
        left.update("%s:%d:%d" % e for e in errors(cc, flags, src))
    for k in sorted(left):
        print("manual: " + k)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
