#!/usr/bin/env python3
"""Import cycles between the source files of the workspace's crates.

A file A imports file B when A names, through `use` or a path in code (`crate::x::Y`,
`super::Y`, `self::y::Z`), an item that B defines; `pub use` re-exports are followed to
the file that defines the item, so a parent module that re-exports a child's type is not
itself the target. A `mod x;` declaration is not an import. Code in `#[cfg(test)]` inline
modules is left out (unit tests may use whatever they test).

Prints each cycle (a strongly connected set of files) and exits 1 when there is one;
`--graph` prints every edge; `--modules` looks at each crate's top-level modules (a file
and the files below it) instead of single files. Usage:
scripts/import_cycles.py [--graph] [--modules] [CRATE_DIR...]
"""

import os
import re
import sys

ITEM = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+|async\s+|const\s+|extern\s+\"C\"\s+)*"
    r"(?:struct|enum|fn|trait|type|const|static|union|macro_rules!)\s+([A-Za-z_][A-Za-z0-9_]*)"
)
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;")
INLINE_MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*\{")
USE = re.compile(r"^\s*(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
PATH = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


class Module:
    def __init__(self, crate, path, file):
        self.crate, self.path, self.file = crate, path, file
        self.items = set()
        self.children = {}  # name -> module path (file or inline)
        self.reexports = {}  # name -> absolute path tuple
        self.glob_reexports = []  # absolute module paths
        self.refs = []  # (kind, absolute path tuple, is_glob)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.split("\n"):
        # drop // comments (naively: not inside strings containing //)
        i = line.find("//")
        if i >= 0 and line[:i].count('"') % 2 == 0:
            line = line[:i]
        out.append(line)
    return "\n".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]; `as` renames kept as (path, alias)."""
    tree = re.sub(r"\s+", " ", tree.strip())
    tree = re.sub(r"\s*(::|\{|\}|,)\s*", r"\1", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    def rec(prefix, s):
        i = s.find("{")
        if i < 0:
            if " as " in s:
                name, alias = s.split(" as ", 1)
                return [(prefix + name, alias)]
            return [(prefix + s, None)]
        head = s[:i]
        inner = s[i + 1 : s.rfind("}")]
        res = []
        for part in split_top(inner):
            res += rec(prefix + head, part)
        return res

    return rec("", tree)


def load_crate(crate_dir):
    src = os.path.join(crate_dir, "src")
    roots = [f for f in ("lib.rs", "main.rs") if os.path.exists(os.path.join(src, f))]
    modules = {}
    crate = os.path.basename(os.path.abspath(crate_dir))
    for root in roots:
        parse_file(crate, os.path.join(src, root), (root[:-3],), src, modules, is_root=True)
    return modules


def parse_file(crate, file, modpath, srcdir, modules, is_root=False):
    with open(file, encoding="utf-8") as fh:
        raw = fh.read()
    text = strip_comments(raw)
    lines = text.split("\n")
    stack = [(modpath, 0, False)]  # (module path, brace depth at open, is test)
    depth = 0
    mods = {modpath: Module(crate, modpath, file)}
    pending_test = False
    i = 0
    while i < len(lines):
        line = lines[i]
        cur, _, in_test = stack[-1]
        m = mods[cur]
        if re.match(r"^\s*#\[cfg\(test\)\]", line):
            pending_test = True
        md = MOD_DECL.match(line)
        im = INLINE_MOD.match(line)
        if md and not in_test and not pending_test:
            name = md.group(1)
            child = cur + (name,)
            m.children[name] = child
            if is_root and len(cur) == 1:
                base = srcdir
            else:
                base = os.path.join(srcdir, *cur[1:]) if len(cur) > 1 else srcdir
            # file of the child: <dir of cur>/<name>.rs or <name>/mod.rs
            if is_root or os.path.basename(file) in ("mod.rs",):
                d = os.path.dirname(file)
            else:
                d = os.path.join(os.path.dirname(file), os.path.basename(file)[:-3])
            cand = [os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")]
            for c in cand:
                if os.path.exists(c):
                    parse_file(crate, c, child, srcdir, modules)
                    break
        elif md:
            pending_test = False
        if im:
            name = im.group(1)
            child = cur + (name,)
            test = in_test or pending_test or name == "tests"
            mods[child] = Module(crate, child, file)
            m.children[name] = child
            stack.append((child, depth, test))
            pending_test = False
        elif not md and line.strip() and not line.strip().startswith("#"):
            pending_test = False if not re.match(r"^\s*(fn|pub|impl|mod|use)", line) else pending_test
        it = ITEM.match(line)
        if it and not in_test:
            m.items.add(it.group(1))
        # use statements may span lines
        if re.match(r"^\s*(pub(\([^)]*\))?\s+)?use\s", line):
            j = i
            buf = line
            while ";" not in buf and j + 1 < len(lines):
                j += 1
                buf += lines[j]
            um = USE.match(buf)
            if um and not in_test:
                public = bool(um.group(1))
                for path, alias in expand_use(um.group(2)):
                    segs = path.split("::")
                    absolute = resolve_rel(segs, cur)
                    if absolute is None:
                        continue
                    glob = segs[-1] == "*"
                    if glob:
                        absolute = absolute[:-1]
                    if segs[-1] == "self":
                        absolute = absolute[:-1]
                    m.refs.append(("use", absolute, glob))
                    if public:
                        if glob:
                            m.glob_reexports.append(absolute)
                        else:
                            m.reexports[alias or absolute[-1]] = absolute
            line_for_paths = ""
            i = j
        else:
            line_for_paths = line
        if not in_test:
            for p in PATH.findall(line_for_paths):
                segs = p.split("::")
                absolute = resolve_rel(segs, cur)
                if absolute is not None:
                    m.refs.append(("path", absolute, False))
        depth += line.count("{") - line.count("}")
        while len(stack) > 1 and depth <= stack[-1][1]:
            stack.pop()
        i += 1
    modules.update(mods)


def resolve_rel(segs, cur):
    if segs[0] == "crate":
        return (cur[0],) + tuple(segs[1:])
    if segs[0] == "self":
        return cur + tuple(segs[1:])
    if segs[0] == "super":
        base = cur
        k = 0
        while k < len(segs) and segs[k] == "super":
            base = base[:-1]
            k += 1
        if not base:
            return None
        return base + tuple(segs[k:])
    return None


def target_file(modules, absolute, seen=None):
    """The file that defines what `absolute` names (following re-exports)."""
    seen = seen or set()
    if absolute in seen:
        return None
    seen.add(absolute)
    # longest module prefix
    for k in range(len(absolute), 0, -1):
        mp = absolute[:k]
        if mp in modules:
            rest = absolute[k:]
            mod = modules[mp]
            if not rest:
                return mod.file
            name = rest[0]
            if name in mod.items:
                return mod.file
            if name in mod.reexports:
                return target_file(modules, mod.reexports[name] + rest[1:], seen)
            for g in mod.glob_reexports:
                t = target_file(modules, g + rest, seen)
                if t:
                    return t
            return mod.file
    return None


def graph(crate_dirs):
    edges = {}
    for cd in crate_dirs:
        modules = load_crate(cd)
        for mod in modules.values():
            for kind, absolute, glob in mod.refs:
                if glob:
                    t = target_file(modules, absolute)
                    # a glob import of a module: every file it defines items in is not known;
                    # count the module's own file
                else:
                    t = target_file(modules, absolute)
                if t and t != mod.file:
                    edges.setdefault(mod.file, set()).add(t)
    return edges


def top_module(file):
    """crate/src/a/b.rs -> crate/src/a; crate/src/a.rs -> crate/src/a; lib.rs stays itself."""
    head, _, rest = file.partition(os.sep + "src" + os.sep)
    first = rest.split(os.sep)[0]
    if first.endswith(".rs"):
        first = first[:-3]
    return os.path.join(head, "src", first)


def collapse(edges):
    out = {}
    for a, ts in edges.items():
        for b in ts:
            ma, mb = top_module(a), top_module(b)
            if ma != mb:
                out.setdefault(ma, set()).add(mb)
    return out


def sccs(edges):
    index, low, onstack, stack, out = {}, {}, set(), [], []
    counter = [0]
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        onstack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def main(argv):
    show = "--graph" in argv
    modules_only = "--modules" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    if not dirs:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        dirs = [os.path.join(root, c) for c in ("model", "generators", "mocks", "reports", "harness")]
    edges = graph(dirs)
    if modules_only:
        edges = collapse(edges)
    if show:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{os.path.relpath(a)} -> {os.path.relpath(b)}")
    cycles = sccs(edges)
    for c in cycles:
        print("cycle: " + " <-> ".join(os.path.relpath(f) for f in c))
        for a in c:
            for b in sorted(edges.get(a, ())):
                if b in c:
                    print(f"    {os.path.relpath(a)} -> {os.path.relpath(b)}")
    print(f"{len(cycles)} import cycle(s) among {len(set(edges) | {t for ts in edges.values() for t in ts})} files")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
