"""Metrics of the functions a session touched: complexity (lizard), length, documentation,
effort, and which functions git saw change since a revision. Pure: nothing is stored here.

Documentation score, 0-100 (documented = score above 0): 0 without a docstring or doc
comment (Python docstring; `/** */` JSDoc/TSDoc/Javadoc/KDoc/PHPDoc; Go `//` lines; Rust
`///`; C/C++ `/** */`, `/* */`, `///` or `//` lines, directly above the function), else
50 + 50 x the share of these checks it meets, rounded half up:
- summary: the first line has three words or more (Go: it starts with the function's name);
- each parameter but self/cls: `@param name` / `\\param name`, a `name:`, `name (type):` or
  `:param name:` line (Python), `name` in backticks, or, in Go, the name as a word;
- when the function returns a value: "returns"/"yields"/@return(s) appears;
- when it raises (Python `raise`, `throw`/`throws`, Rust `Result`): Raises/@throws/# Errors;
- public Rust functions: an example (`# Examples` or a code fence).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from aitrack.errors import AitrackError

MODIFICATION_TYPES = ("added", "modified", "refactored", "deleted")

# language -> extensions; lizard picks its reader by extension, _LIZARD_EXT renames the few it lacks
_LANGUAGES = {
    "python": "py", "javascript": "js mjs cjs jsx", "typescript": "ts mts cts tsx", "go": "go",
    "rust": "rs", "java": "java", "c": "c h", "cpp": "cc cpp cxx c++ hh hpp hxx", "csharp": "cs",
    "kotlin": "kt kts", "swift": "swift", "scala": "scala", "php": "php", "ruby": "rb",
    "lua": "lua", "objectivec": "m mm", "solidity": "sol", "zig": "zig", "vue": "vue",
}  # fmt: skip
_EXTENSIONS = {f".{ext}": lang for lang, exts in _LANGUAGES.items() for ext in exts.split()}
_LIZARD_EXT = {"mjs": "js", "cjs": "js", "mts": "ts", "cts": "ts", "c++": "cpp", "hxx": "hpp"}
# language -> (block comments that count as documentation, line-comment prefixes that do)
_C_DOC = (("/**", "/*!", "/*"), ("///", "//!", "//"))
_DOC_COMMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "go": (("/*",), ("//",)), "rust": (("/**",), ("///",)), "csharp": (("/**",), ("///",)),
    "swift": (("/**",), ("///",)), "ruby": ((), ("#",)), "lua": ((), ("---",)),
    "c": _C_DOC, "cpp": _C_DOC, "objectivec": _C_DOC,
}  # fmt: skip
_DEFAULT_DOC_COMMENTS = (("/**",), ())  # JSDoc, TSDoc, Javadoc, KDoc, PHPDoc, Scaladoc
_MAX_FILE_BYTES = 2_000_000  # larger files are generated or vendored: not worth lizard's time
_ANNOTATION = re.compile(r"^\s*(@[\w.]+(\(.*\))?|#!?\[.*\])\s*$")  # decorators, Rust attributes
_C_SIGNATURE_PREFIX = re.compile(r"^\s*[A-Za-z_][\w\s*&:<>,]*$")  # `static int` above `foo(...)`
_CONTAINER = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?"
    r"(?:class|impl(?:\s*<[^>]*>)?(?:\s+[\w:<>, ]+?\s+for)?)\s+([A-Za-z_$][\w$]*)"
)
_DIFF = ("diff", "--unified=0", "-M", "--no-color", "--no-ext-diff", "--no-textconv")
_Hunk = tuple[int, int, int]  # old_count, new_start, new_count (-1: the whole file)
_Files = dict[str, tuple[str | None, list[_Hunk]]]  # new path -> (old path, hunks)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class CodeMetricsError(AitrackError):
    """A file that cannot be analysed (unreadable, unsupported) or lies outside the repository."""


@dataclass(frozen=True, slots=True)
class FunctionChange:
    """One function a session touched, as the agent (or git) reports it."""

    name: str
    modification_type: str  # one of MODIFICATION_TYPES
    lines_added: int = 0
    lines_modified: int = 0
    lines_deleted: int = 0

    def __post_init__(self) -> None:
        if self.modification_type not in MODIFICATION_TYPES:
            allowed = ", ".join(MODIFICATION_TYPES)
            raise CodeMetricsError(f"modification_type of {self.name!r}: use one of {allowed}")
        for kind in ("lines_added", "lines_modified", "lines_deleted"):
            if type(getattr(self, kind)) is not int or getattr(self, kind) < 0:
                raise CodeMetricsError(f"{kind} of {self.name!r} must be a whole number >= 0")


@dataclass(frozen=True, slots=True)
class FunctionMetrics:
    """Metrics of one function; found=False when the file has no function of that name."""

    name: str
    file_path: str
    language: str
    modification_type: str
    found: bool
    complexity: int | None  # cyclomatic complexity
    length: int | None  # lines of code, without blank and comment lines
    parameters: int | None  # `self`/`cls` receivers not counted
    start_line: int | None
    end_line: int | None
    documented: bool
    doc_score: int  # 0-100, the rule is in the module docstring
    effort_score: float
    lines_added: int
    lines_modified: int
    lines_deleted: int

    def to_dict(self) -> dict[str, Any]:
        """The seed's result shape (ai_contribution, context, documentation, value_metrics) plus ours."""
        added = self.modification_type == "added"
        return {
            "function_name": self.name,
            "file_path": self.file_path,
            "language": self.language,
            "modification_type": self.modification_type,
            "found": self.found,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "ai_contribution": {
                "lines_added": self.lines_added,
                "lines_modified": self.lines_modified,
                "lines_deleted": self.lines_deleted,
                "complexity_added": (self.complexity or 0) if added else 0,
            },
            "context": {
                "final_complexity": self.complexity,
                "cognitive_load": 0 if added else (self.complexity or 0),
                "length": self.length,
                "parameters": self.parameters,
            },
            "documentation": {"has_docstring": self.documented, "quality_score": self.doc_score},
            "value_metrics": {"effort_score": round(self.effort_score, 2)},
        }


@dataclass(frozen=True, slots=True)
class FileMetrics:
    """Metrics of the reported functions of one file, with their averages and totals."""

    file_path: str
    language: str
    functions: list[FunctionMetrics]

    # averages of complexity and doc score are over the functions found; 0.0 when none
    @property
    def functions_analyzed(self) -> int:
        return sum(1 for f in self.functions if f.found)

    @property
    def average_complexity(self) -> float:
        return _mean([f.complexity for f in self.functions if f.complexity is not None])

    @property
    def average_doc_score(self) -> float:
        return _mean([f.doc_score for f in self.functions if f.found])

    @property
    def average_effort(self) -> float:
        return _mean([f.effort_score for f in self.functions])

    @property
    def total_effort(self) -> float:
        return round(sum(f.effort_score for f in self.functions), 2)

    def to_dict(self) -> dict[str, Any]:
        """Keys of the seed's log_code_metrics result, then totals and every function."""
        return {
            "file_path": self.file_path,
            "language": self.language,
            "functions_analyzed": self.functions_analyzed,
            "functions_not_found": [f.name for f in self.functions if not f.found],
            "average_complexity": self.average_complexity,
            "average_doc_quality": self.average_doc_score,
            "average_effort_score": self.average_effort,
            "total_effort_score": self.total_effort,
            "lines_added": sum(f.lines_added for f in self.functions),
            "lines_modified": sum(f.lines_modified for f in self.functions),
            "lines_deleted": sum(f.lines_deleted for f in self.functions),
            "functions": [f.to_dict() for f in self.functions],
        }


def effort_score(change: FunctionChange, complexity: int | None) -> float:
    """The seed's effort: lines_added + 0.5 * lines_modified + 0.1 * complexity, where the
    complexity (code the agent had to understand) counts neither for added functions nor
    for functions not found (None)."""
    context = 0 if change.modification_type == "added" or complexity is None else complexity
    return change.lines_added * 1.0 + change.lines_modified * 0.5 + context * 0.1


def ensure_inside(path: Path, root: Path) -> Path:
    """Resolve path (relative to root, symlinks followed) and refuse it outside root; reads nothing.

    Raises:
        CodeMetricsError: the resolved path is not root or under it.
    """
    real_root = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(Path(root) / path))
    if not resolved.is_relative_to(real_root):
        msg = f"{path} is outside the session's repository {real_root}: give a file inside it"
        raise CodeMetricsError(msg)
    return resolved


def language_of(path: Path) -> str | None:
    """The language name of a source file from its extension, None when not supported."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def analyse_file(path: Path, changes: Sequence[FunctionChange]) -> FileMetrics:
    """Measure each reported function of one file. One the file lacks (deleted, renamed,
    misspelt) is kept with found=False, no complexity and an effort score from its lines.

    Raises:
        CodeMetricsError: the file is missing, unreadable or in an unsupported language.
    """
    path = Path(path)
    language = language_of(path)
    if language is None:
        raise CodeMetricsError(
            f"cannot analyse {path}: unsupported language {path.suffix or '(no extension)'}; "
            f"supported extensions: {', '.join(sorted(_EXTENSIONS))}"
        )
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        why = {FileNotFoundError: "no such file", IsADirectoryError: "it is a directory"}
        raise CodeMetricsError(
            f"cannot read {path}: {why.get(type(exc), exc.strerror or exc)}; "
            "give the path of an existing, readable source file"
        ) from None
    functions = _functions_in(path, text, language)
    results = []
    for change in changes:
        fn = _match(change.name, functions)
        measured: dict[str, Any] = fn._asdict() if fn else dict.fromkeys(_Function._fields)
        measured["doc_score"] = measured["doc_score"] or 0
        del measured["qualname"]
        results.append(
            FunctionMetrics(
                **asdict(change),  # name, modification_type, lines added/modified/deleted
                **measured,
                file_path=str(path),
                language=language,
                found=fn is not None,
                documented=measured["doc_score"] > 0,
                effort_score=effort_score(change, measured["complexity"]),
            )
        )
    return FileMetrics(file_path=str(path), language=language, functions=results)


def functions_changed_between(repo: Path, base_rev: str | None) -> dict[Path, list[FunctionChange]]:
    """Functions changed from base_rev to the working tree (commits, uncommitted, untracked).

    Absent at base_rev: "added", all its changed lines added; else "modified" with lines
    added/modified/deleted from the hunks. base_rev None: every file is new. Deleted, binary,
    symlinked and unsupported files are skipped; renames compare with the old path. Keys
    are absolute paths; {} outside a git work tree or without git.

    Raises:
        CodeMetricsError: base_rev is not a commit of the repository.
    """
    top = _git(Path(repo), "rev-parse", "--show-toplevel")
    if top is None:
        return {}
    root = Path(top.strip())
    files: _Files = {}
    base = None
    if base_rev is not None:
        base = _git(root, "rev-parse", "--verify", "--quiet", f"{base_rev}^{{commit}}")
        if base is None:
            raise CodeMetricsError(f"base revision {base_rev!r} is not a commit in {root}")
        base = base.strip()
        diff = _git(root, *_DIFF, "--src-prefix=a/", "--dst-prefix=b/", base, "--")
        files.update(_parse_diff(diff or ""))
        new_files = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    else:
        new_files = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for rel in filter(None, (new_files or "").split("\0")):
        files.setdefault(rel, (None, [(0, 1, -1)]))
    result: dict[Path, list[FunctionChange]] = {}
    for rel, (old_rel, hunks) in sorted(files.items()):
        path, language = root / rel, language_of(Path(rel))
        try:
            if not language or path.is_symlink() or path.stat().st_size > _MAX_FILE_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:  # gone meanwhile, a directory (submodule) or unreadable
            continue
        old_text = _git(root, "show", f"{base}:{old_rel}") if base and old_rel else None
        base_names = (
            {f.qualname for f in _functions_in(path, old_text, language)} if old_text else set()
        )
        line_count = len(text.removesuffix("\n").split("\n"))
        changes = _count_lines(_functions_in(path, text, language), hunks, line_count, base_names)
        if changes:
            result[path] = changes
    return result


def _mean(values: list[Any]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


class _Function(NamedTuple):
    qualname: str  # Class.method, dotted whatever the language's separator
    start_line: int
    end_line: int
    complexity: int
    length: int
    parameters: int
    doc_score: int


class _Facts(NamedTuple):  # what the documentation score looks at
    qualname: str
    doc: str | None
    params: list[str]
    returns: bool
    fails: bool
    public: bool = False


def _functions_in(path: Path, text: str, language: str) -> list[_Function]:
    from lizard import analyze_file

    ext = path.suffix.lower()[1:]
    info = analyze_file.analyze_source_code(f"{path.stem}.{_LIZARD_EXT.get(ext, ext)}", text)
    lines = text.split("\n")  # as git and lizard count lines: not at \f or \u2028
    pydefs = _python_defs(text) if language == "python" else {}
    found = []
    for fn in info.function_list:
        params = [p for p in fn.parameters if p not in ("self", "cls")]
        facts = pydefs.get(fn.start_line) or _facts(fn, language, lines, params)
        score = _doc_score(facts, language, re.split(r"::|\.", fn.name)[-1])
        measured = (fn.start_line, fn.end_line, fn.cyclomatic_complexity, fn.nloc, len(params))
        found.append(_Function(facts.qualname, *measured, score))
    return found


def _facts(fn: Any, language: str, lines: list[str], params: list[str]) -> _Facts:
    body = "\n".join(lines[fn.start_line - 1 : fn.end_line])
    signature = body.split("{", 1)[0]
    rust = language == "rust"
    return _Facts(
        qualname=_qualname(fn, language, lines),
        doc=_doc_comment(lines, fn.start_line, language),
        params=_go_params(fn.long_name, fn.name) if language == "go" else params,
        returns=bool(re.search(r"\breturn\s+[^\s;}]", body))
        or (rust and bool(re.search(r"->\s*(?!\(\s*\))", signature))),
        fails=bool(re.search(r"\bthrows?\b", body)) or (rust and "Result" in signature),
        public=rust and bool(re.match(r"\s*pub\b", signature)),
    )


def _doc_score(facts: _Facts, language: str, name: str) -> int:
    """The documentation score of the module docstring."""
    doc = (facts.doc or "").strip()
    if not doc:
        return 0
    first = doc.splitlines()[0].strip()
    if language == "go":
        summary = bool(re.match(rf"(?:(?:A|An|The)\s+)?{re.escape(name)}\b", first))
    else:
        summary = len(first.split()) >= 3
    checks = [summary] + [_describes_param(doc, p, language) for p in facts.params]
    if facts.returns:
        checks.append(bool(re.search(r"(?i)\b(returns?|yields?)\b", doc)))
    if facts.fails:
        checks.append(bool(re.search(r"(?i)\b(raises?|throws?|exceptions?|errors|panics)\b", doc)))
    if facts.public:
        checks.append(bool(re.search(r"(?im)^\s*#\s*examples?\b|```", doc)))
    return 50 + int(50 * sum(checks) / len(checks) + 0.5)  # half up: 62.5 -> 63


def _python_defs(text: str) -> dict[int, _Facts]:
    """Python functions by `def` line: qualified name, docstring, parameters, returns, raises."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    defs: dict[int, _Facts] = {}
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

    def own_kinds(fn: ast.AST) -> set[type]:
        """Node types in fn and not in its nested defs; a bare `return` is left out."""
        kinds, todo = set(), list(ast.iter_child_nodes(fn))
        while todo:
            node = todo.pop()
            if not isinstance(node, ast.Return) or node.value is not None:
                kinds.add(type(node))
            if not isinstance(node, nested):
                todo.extend(ast.iter_child_nodes(node))
        return kinds

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                a = child.args
                args = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
                kinds = own_kinds(child)
                defs[child.lineno] = _Facts(
                    qualname=prefix + child.name,
                    doc=ast.get_docstring(child),
                    params=[x.arg for x in args if x and x.arg not in ("self", "cls")],
                    returns=bool(kinds & {ast.Return, ast.Yield, ast.YieldFrom}),
                    fails=ast.Raise in kinds,
                )
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                visit(child, prefix)

    visit(tree, "")
    return defs


def _qualname(fn: Any, language: str, lines: list[str]) -> str:
    """Class.method for every language: lizard qualifies Java/C++ names, Go has receivers,
    TypeScript/JavaScript classes and Rust impl blocks are found by indentation."""
    name = fn.name
    long_name = fn.long_name
    if language == "go" and long_name.startswith("("):
        receiver = re.sub(r"\[.*?\]", "", long_name[1 : long_name.find(")")])
        idents = re.findall(r"[A-Za-z_]\w*", receiver)
        return f"{idents[-1]}.{name}" if idents else name
    if language not in ("go", "rust") and "(" in long_name:
        head = long_name.split("(", 1)[0].strip()
        if head.endswith(name.split("::")[-1]) and len(head) >= len(name):
            name = head
    if "::" not in name and "." not in name and language in ("typescript", "javascript", "rust"):
        line = lines[fn.start_line - 1]
        indent = len(line) - len(line.lstrip())
        for above in reversed(lines[: fn.start_line - 1]):
            if above.strip() and len(above) - len(above.lstrip()) < indent:
                container = _CONTAINER.match(above)
                if container:
                    name = f"{container.group(1)}.{name}"
                break
    return name.replace("::", ".")


def _go_params(long_name: str, name: str) -> list[str]:
    """Go parameter names from lizard's `Name a , b int , c string` (lizard lists types)."""
    rest = long_name[long_name.find(")") + 1 :] if long_name.startswith("(") else long_name
    pieces = [p.split() for p in rest[len(name) :].split(",") if p.strip()]
    if not any(len(p) > 1 for p in pieces):
        return []  # unnamed parameters: types only
    return [p[0] for p in pieces]


def _doc_comment(lines: list[str], start_line: int, language: str) -> str | None:
    """The doc comment directly above a function (decorators/attributes in between allowed)."""
    blocks, prefixes = _DOC_COMMENTS.get(language, _DEFAULT_DOC_COMMENTS)
    i, c_like = start_line - 2, blocks == _C_DOC[0]
    while i >= 0 and (
        _ANNOTATION.match(lines[i]) or (c_like and _C_SIGNATURE_PREFIX.match(lines[i]))
    ):
        i -= 1
    if blocks and i >= 0 and lines[i].strip().endswith("*/"):
        end = i
        while i >= 0 and "/*" not in lines[i]:
            i -= 1
        if i < 0 or not lines[i].strip().startswith(blocks):
            return None
        text = "\n".join(lines[i : end + 1]).strip()
        text = re.sub(r"^/\*[*!]?|\*/$", "", text)
        return "\n".join(re.sub(r"^\s*\*?\s?", "", x) for x in text.splitlines()).strip()
    collected: list[str] = []
    while prefixes and i >= 0 and lines[i].strip().startswith(prefixes):
        stripped = lines[i].strip()
        prefix = max((p for p in prefixes if stripped.startswith(p)), key=len)
        collected.append(stripped[len(prefix) :].strip())
        i -= 1
    return "\n".join(reversed(collected)).strip() or None


def _describes_param(doc: str, param: str, language: str) -> bool:
    n = re.escape(param.lstrip("*&$"))
    patterns = [
        rf"[@\\]param(?:\[[^\]]*\])?\s+(?:\{{[^}}]*\}}\s*)?\[?{n}\b",  # @param {T} name, \param[in] name
        rf"@param\s+(?:\S+\s+)?\${n}\b",  # PHPDoc: @param int $name
        rf"`{n}`",
    ]
    if language == "python":  # Google/NumPy `name (type):` lines, Sphinx `:param type name:`
        patterns += [
            rf"(?m)^\s*\*{{0,2}}{n}\s*(\([^)\n]*\))?\s*:",
            rf":param\s+(?:[^:\n]*\s)?{n}\s*:",
        ]
    elif language == "go":
        patterns.append(rf"\b{n}\b")
    return any(re.search(p, doc) for p in patterns)


def _match(requested: str, functions: list[_Function]) -> _Function | None:
    """Find a reported name: exact qualified name first, then `method` for `Class.method`,
    then `Class.method` for a method whose class is unknown; the earliest line wins a tie."""
    want = [p for p in re.split(r"::|\.", requested.strip()) if p]
    ranked = []
    for fn in functions:
        have = fn.qualname.split(".")
        common = min(len(have), len(want))
        if want and have[-common:] == want[-common:]:  # one ends with the other
            rank = 0 if len(have) == len(want) else 1 if len(want) < len(have) else 2
            ranked.append((rank, fn.start_line, fn))
    return min(ranked, key=lambda r: r[:2])[2] if ranked else None


def _count_lines(
    fns: list[_Function], hunks: list[_Hunk], lines: int, base: set[str]
) -> list[FunctionChange]:
    """Attribute each hunk's lines to the innermost function holding them: paired -/+ lines
    are modified, extra + lines added, extra - lines deleted."""

    def holder(line: int, gap: bool = False) -> _Function | None:
        inside = [f for f in fns if f.start_line <= line and line + gap <= f.end_line]
        return max(inside, key=lambda f: f.start_line, default=None)

    counts: dict[_Function, list[int]] = {}
    for old_count, new_start, new_count in hunks:
        if new_count < 0:
            new_count = lines
        paired = min(old_count, new_count)
        for k in range(new_count):
            fn = holder(new_start + k)
            if fn:
                counts.setdefault(fn, [0, 0, 0])[0 if k >= paired else 1] += 1
        if old_count > paired:
            fn = holder(new_start + new_count - 1) if new_count else holder(new_start, gap=True)
            if fn:
                counts.setdefault(fn, [0, 0, 0])[2] += old_count - paired
    changes = []
    for fn, (added, modified, deleted) in sorted(counts.items(), key=lambda kv: kv[0].start_line):
        if fn.qualname in base:
            changes.append(FunctionChange(fn.qualname, "modified", added, modified, deleted))
        elif added + modified:
            changes.append(FunctionChange(fn.qualname, "added", added + modified))
    return changes


def _git(root: Path, *args: str) -> str | None:
    """Run git in root without taking the index lock; None when it fails or is missing.
    Output is decoded here: text mode would turn a lone \\r inside a line into a line break."""
    import subprocess

    cmd = ["git", "--no-optional-locks", "-c", "core.quotepath=off", "-C", str(root), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, check=False)
    except OSError:
        return None
    return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else None


def _parse_diff(diff: str) -> _Files:
    """The files and hunks of a `git diff --unified=0`, without deleted or binary files."""
    files: _Files = {}
    old = new = None
    hunks, remaining = list[_Hunk](), 0

    def flush() -> None:
        if new:  # None for a deleted file, or a binary one (no +++ line)
            files[new] = (old, hunks)

    for line in diff.split("\n"):
        if remaining > 0:  # inside a hunk: content lines only
            if line[:1] in "+- ":
                remaining -= 1
            continue
        if line.startswith("diff --git "):
            flush()
            old = new = None
            hunks = []
        elif line.startswith(("rename from ", "copy from ")):
            old = _unquote(line.split(" ", 2)[2])
        elif line.startswith(("rename to ", "copy to ")):
            new = _unquote(line.split(" ", 2)[2])
        elif line.startswith("--- "):
            old = None if line == "--- /dev/null" else _unquote(line[4:])[2:]
        elif line.startswith("+++ "):
            new = None if line == "+++ /dev/null" else _unquote(line[4:])[2:]
        elif match := _HUNK.match(line):
            _, old_count, new_start, new_count = match.groups()
            hunk = (int(old_count or 1), int(new_start), int(new_count or 1))
            hunks.append(hunk)
            remaining = hunk[0] + hunk[2]
    flush()
    return files


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of paths with unusual characters (and its tab after a space)."""
    path = path.rstrip("\t")
    if not (path.startswith('"') and path.endswith('"')):
        return path
    return codecs.escape_decode(path[1:-1].encode())[0].decode("utf-8", errors="replace")
