#!/usr/bin/env python3
"""Two structural checks over the workspace's Rust sources (stdlib only; `make lint` runs it).

1. **Import cycles between files.** Per crate, every `crate::…`, `super::…` and `self::…` path
   (in `use` trees and in code) is resolved to the file that holds the module it names, which
   gives a graph of files. A file naming one of its own submodules (a parent declaring and
   re-exporting its children) is structure, not a dependency, and is not an edge. Any cycle left
   (a strongly connected component of two files or more) is reported. Test code (`#[cfg(test)]`
   modules, inline or in their own file) may use anything and is left out.
2. **File sizes.** A non-test source file (under `src/`, not a `tests.rs`/`*_tests.rs` module or
   anything under `tests/`) over 600 lines is reported; benches and examples are listed apart.

    scripts/check_structure.py            # both checks over the workspace; exit 1 on a finding
    scripts/check_structure.py --cycles-only / --sizes-only
    scripts/check_structure.py --self-test  # shows that each check can fail
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

MAX_LINES = 600
# The trainer stage is held to a tighter bound than other files (issue 24).
SPECIAL_LIMITS = {"workers/src/trainer.rs": 300}


# ---- lexing: code with comments and literals blanked, so braces and paths can be trusted ----


def strip_code(src: str) -> str:
    """The source with comments, string and char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', src[i:i + 260])) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = '"' + m.group(1)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}', '{') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:i + 12])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ---- modules of a crate ----


def module_path(src_dir: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src_dir).with_suffix("")
    parts = list(rel.parts)
    if parts in (["lib"], ["main"]):
        return ()
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def test_module_files(src_dir: Path) -> set[Path]:
    """Files that are `#[cfg(test)] mod x;` children, and everything below them."""
    found: set[Path] = set()
    for file in src_dir.rglob("*.rs"):
        code = strip_code(file.read_text())
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            name = m.group(1)
            base = file.parent if file.name in ("mod.rs", "lib.rs", "main.rs") else file.with_suffix("")
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    found.add(cand)
            if (base / name).is_dir():
                found.update((base / name).rglob("*.rs"))
    return found


TEST_ATTR_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?$")
USE_RE = re.compile(r"\buse\s+([^;]+);")
PATH_RE = re.compile(r"\b((?:crate|super|self)(?:\s*::\s*(?:super|\w+))+)")


def expand_use_tree(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`] (aliases and globs dropped)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)

    def split_top(s: str) -> list[str]:
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

    def go(prefix: str, s: str) -> list[str]:
        i = s.find("{")
        if i < 0:
            return [prefix + s]
        head, body = s[:i], s[i + 1:s.rfind("}")]
        out = []
        for part in split_top(body):
            out.extend(go(prefix + head, part))
        return out

    return [p.rstrip(":").rstrip("*").rstrip(":") for p in go("", tree) if p]


class Crate:
    def __init__(self, root: Path, src_dir: Path):
        self.root = root
        self.src_dir = src_dir
        self.files = sorted(src_dir.rglob("*.rs"))
        self.module_file: dict[tuple[str, ...], Path] = {}
        # Per file: (module path of a scope, stripped code of the scope)
        self.scopes: dict[Path, list[tuple[tuple[str, ...], str]]] = {}
        # Inline `#[cfg(test)] mod x { … }` scopes, and `#[cfg(test)] mod x;` files.
        self.test_scopes: set[tuple[str, ...]] = set()
        self.test_files = test_module_files(src_dir)
        for f in self.files:
            self.module_file[module_path(src_dir, f)] = f
        for f in self.files:
            self.scopes[f] = self._scopes(f)

    def _scopes(self, file: Path):
        """The file cut into inline-module scopes: [(module path, code)]."""
        code = strip_code(file.read_text())
        base = module_path(self.src_dir, file)
        scopes: dict[tuple[str, ...], list[str]] = {base: []}
        stack: list[tuple[tuple[str, ...], int]] = [(base, -1)]
        depth = 0
        i = 0
        mod_re = re.compile(r"\bmod\s+(\w+)\s*\{")
        while i < len(code):
            m = mod_re.match(code, i) if code[i] == "m" and (i == 0 or not (code[i - 1].isalnum() or code[i - 1] == "_")) else None
            if m:
                path = stack[-1][0] + (m.group(1),)
                if stack[-1][0] in self.test_scopes or TEST_ATTR_RE.search(code[max(0, i - 300):i]):
                    self.test_scopes.add(path)
                self.module_file.setdefault(path, file)
                scopes.setdefault(path, [])
                depth += 1
                stack.append((path, depth))
                i = m.end()
                continue
            ch = code[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                if stack[-1][1] == depth:
                    stack.pop()
                depth -= 1
            scopes[stack[-1][0]].append(ch)
            i += 1
        return [(p, "".join(cs)) for p, cs in scopes.items()]

    def resolve(self, scope: tuple[str, ...], path: str) -> tuple[str, ...] | None:
        segs = [s for s in re.split(r"\s*::\s*", path) if s]
        cur: list[str]
        if segs[0] == "crate":
            cur, segs = [], segs[1:]
        elif segs[0] in ("super", "self"):
            cur = list(scope)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    if not cur:
                        return None
                    cur.pop()
                segs = segs[1:]
        else:
            return None
        full = tuple(cur + segs)
        for k in range(len(full), -1, -1):
            if full[:k] in self.module_file:
                return full[:k]
        return ()

    def edges(self) -> dict[Path, set[Path]]:
        graph: dict[Path, set[Path]] = {f: set() for f in self.files}
        for f in self.files:
            if f in self.test_files:
                continue  # tests of a module may use anything
            own = module_path(self.src_dir, f)
            for scope, code in self.scopes[f]:
                if scope in self.test_scopes:
                    continue
                paths = []
                for m in USE_RE.finditer(code):
                    paths.extend(expand_use_tree(m.group(1)))
                paths.extend(m.group(1) for m in PATH_RE.finditer(USE_RE.sub(" ", code)))
                for p in paths:
                    target = self.resolve(scope, p)
                    if target is None:
                        continue
                    tf = self.module_file[target]
                    if tf == f or target[:len(own)] == own and len(target) > len(own):
                        continue  # itself, or one of its own submodules
                    graph[f].add(tf)
        return graph


def sccs(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def crates(workspace: Path) -> list[Crate]:
    found = []
    for manifest in sorted(workspace.glob("*/Cargo.toml")) + [workspace / "Cargo.toml"]:
        src = manifest.parent / "src"
        if manifest.exists() and src.is_dir() and "target" not in manifest.parts:
            found.append(Crate(manifest.parent, src))
    return found


def check_cycles(workspace: Path) -> list[str]:
    problems = []
    for crate in crates(workspace):
        for comp in sccs(crate.edges()):
            names = ", ".join(str(p.relative_to(workspace)) for p in comp)
            problems.append(f"import cycle: {names}")
    return problems


def check_sizes(workspace: Path) -> tuple[list[str], list[str]]:
    problems, notes = [], []
    for crate in crates(workspace):
        tests = test_module_files(crate.src_dir)
        for f in crate.files:
            if f in tests or f.name == "tests.rs" or f.stem.endswith("_tests"):
                continue
            rel = str(f.relative_to(workspace))
            lines = f.read_text().count("\n")
            limit = SPECIAL_LIMITS.get(rel, MAX_LINES)
            if lines > limit:
                problems.append(f"{rel}: {lines} lines (limit {limit})")
    for f in sorted(list(workspace.glob("*/benches/*.rs")) + list(workspace.glob("*/examples/*.rs"))):
        lines = f.read_text().count("\n")
        if lines > MAX_LINES:
            notes.append(f"{f.relative_to(workspace)}: {lines} lines (bench/example, not checked)")
    return problems, notes


def self_test() -> int:
    """Each check fails on a workspace made to fail it, and passes on a clean one."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        (ws / "a" / "src" / "text").mkdir(parents=True)
        (ws / "a" / "Cargo.toml").write_text("[package]\n")
        (ws / "a" / "src" / "lib.rs").write_text("pub mod text;\npub mod other;\n")
        (ws / "a" / "src" / "text" / "mod.rs").write_text(
            "mod language;\nmod stopwords;\npub use language::Language;\n"
        )
        (ws / "a" / "src" / "text" / "language.rs").write_text(
            "use super::stopwords::{self, List};\npub struct Language;\n"
            "#[cfg(test)]\nmod tests {\n    use super::*;\n    fn f() { let _ = '{'; }\n}\n"
        )
        (ws / "a" / "src" / "text" / "stopwords.rs").write_text(
            "pub struct List;\npub fn f() -> crate::text::language::Language { todo!() }\n"
        )
        (ws / "a" / "src" / "other.rs").write_text(
            "use crate::{text::Language};\n// use crate::text::stopwords;\n" + "\n" * 700
        )
        cycles = check_cycles(ws)
        sizes, _ = check_sizes(ws)
        ok = (
            len(cycles) == 1
            and "language.rs" in cycles[0]
            and "stopwords.rs" in cycles[0]
            and len(sizes) == 1
            and "other.rs" in sizes[0]
        )
        # Break the cycle (test code may still use anything): it must pass.
        (ws / "a" / "src" / "text" / "stopwords.rs").write_text(
            "pub struct List;\n#[cfg(test)]\nmod tests {\n    use crate::text::language::Language;\n}\n"
        )
        (ws / "a" / "src" / "other.rs").write_text("use crate::text::Language;\n")
        ok = ok and not check_cycles(ws) and not check_sizes(ws)[0]
    print("self-test:", "ok" if ok else f"FAILED (cycles={cycles}, sizes={sizes})")
    return 0 if ok else 1


def main() -> int:
    if "--self-test" in sys.argv:
        return self_test()
    workspace = Path(__file__).resolve().parent.parent
    cycles = [] if "--sizes-only" in sys.argv else check_cycles(workspace)
    sizes, notes = ([], []) if "--cycles-only" in sys.argv else check_sizes(workspace)
    for line in cycles + sizes:
        print(line)
    for line in notes:
        print("note:", line)
    if cycles or sizes:
        print(f"{len(cycles)} import cycle(s), {len(sizes)} file(s) over the limit")
        return 1
    checked = [
        *([] if "--sizes-only" in sys.argv else ["no import cycle between files"]),
        *([] if "--cycles-only" in sys.argv else ["no source file over the limit"]),
    ]
    print("; ".join(checked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
