import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from aitrack.code_metrics import (
    CodeMetricsError,
    FunctionChange,
    analyse_file,
    effort_score,
    ensure_inside,
    functions_changed_between,
)

# One documented function `clamp` (complexity 3, every parameter and the return value
# described: doc score 100) and one undocumented `bare` (complexity 2) per language.
CLAMP_SOURCES = {
    "clamp.py": '''
        def clamp(value, low, high):
            """Clamp a value into a range.

            Args:
                value: the number to clamp.
                low: the lower bound.
                high (int): the upper bound.

            Returns:
                The clamped number.
            """
            if value < low:
                return low
            if value > high:
                return high
            return value


        def bare(x):
            return x or 0
        ''',
    "clamp.ts": """
        /**
         * Clamp a value into a range.
         * @param value the number to clamp
         * @param {number} low the lower bound
         * @param high the upper bound
         * @returns the clamped number
         */
        export function clamp(value: number, low: number, high: number): number {
          if (value < low) {
            return low;
          }
          return value > high ? high : value;
        }

        export function bare(x: number): number {
          return x || 0;
        }
        """,
    "clamp.tsx": """
        /**
         * Clamp a value into a range.
         * @param value the number to clamp
         * @param low the lower bound
         * @param high the upper bound
         * @returns the clamped number
         */
        export function clamp(value: number, low: number, high: number): number {
          if (value < low) {
            return low;
          }
          return value > high ? high : value;
        }

        export function bare(x: number) {
          return x || <span>none</span>;
        }
        """,
    "clamp.js": """
        /**
         * Clamp a value into a range.
         * @param {number} value the number to clamp
         * @param {number} low the lower bound
         * @param {number} high the upper bound
         * @returns {number} the clamped number
         */
        function clamp(value, low, high) {
          if (value < low) {
            return low;
          }
          return value > high ? high : value;
        }

        function bare(x) {
          return x || 0;
        }
        """,
    "clamp.jsx": """
        /**
         * Clamp a value into a range.
         * @param value the number to clamp
         * @param low the lower bound
         * @param high the upper bound
         * @returns the clamped number
         */
        function clamp(value, low, high) {
          if (value < low) {
            return low;
          }
          return value > high ? high : value;
        }

        function bare(x) {
          return x || <i>none</i>;
        }
        """,
    "clamp.go": """
        package clamp

        // Clamp returns value limited to the range from low to high.
        func Clamp(value, low, high int) int {
        \tif value < low {
        \t\treturn low
        \t}
        \tif value > high {
        \t\treturn high
        \t}
        \treturn value
        }

        func bare(x int) int {
        \tif x > 0 {
        \t\treturn x
        \t}
        \treturn 0
        }
        """,
    "clamp.rs": """
        /// Clamps `value` into the range from `low` to `high`.
        ///
        /// Returns the clamped number.
        ///
        /// # Examples
        ///
        /// ```
        /// assert_eq!(clamp(5, 0, 3), 3);
        /// ```
        #[inline]
        pub fn clamp(value: i32, low: i32, high: i32) -> i32 {
            if value < low {
                low
            } else if value > high {
                high
            } else {
                value
            }
        }

        fn bare(x: i32) -> i32 {
            if x > 0 { x } else { 0 }
        }
        """,
    "Range.java": """
        public class Range {
            /**
             * Clamps a value into a range.
             * @param value the number to clamp
             * @param low the lower bound
             * @param high the upper bound
             * @return the clamped number
             */
            @SuppressWarnings("unused")
            public static int clamp(int value, int low, int high) {
                if (value < low) {
                    return low;
                }
                if (value > high) {
                    return high;
                }
                return value;
            }

            static int bare(int x) {
                return x > 0 ? x : 0;
            }
        }
        """,
    "clamp.c": """
        #include <stdio.h>

        /**
         * Clamp a value into a range.
         * @param value the number to clamp
         * @param low the lower bound
         * @param high the upper bound
         * @return the clamped number
         */
        static int
        clamp(int value, int low, int high)
        {
            if (value < low)
                return low;
            if (value > high)
                return high;
            return value;
        }

        int bare(int x) { return x > 0 ? x : 0; }
        """,
    "clamp.cpp": """
        #include "range.hpp"

        /// Clamp a value into a range.
        /// \\param value the number to clamp
        /// \\param[in] low the lower bound
        /// \\param[in] high the upper bound
        /// \\return the clamped number
        int Range::clamp(int value, int low, int high) {
            if (value < low) return low;
            if (value > high) return high;
            return value;
        }

        int bare(int x) { return x > 0 ? x : 0; }
        """,
}
LANGUAGES = {
    ".py": "python", ".ts": "typescript", ".tsx": "typescript", ".js": "javascript",
    ".jsx": "javascript", ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".cpp": "cpp",
}  # fmt: skip


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


@pytest.mark.parametrize("filename", sorted(CLAMP_SOURCES))
def test_each_language_measures_complexity_and_scores_a_complete_doc_comment_100(
    tmp_path, filename
):
    path = write(tmp_path, filename, CLAMP_SOURCES[filename])
    clamp_name = "Clamp" if filename.endswith(".go") else "clamp"
    result = analyse_file(
        path, [FunctionChange(clamp_name, "modified"), FunctionChange("bare", "added")]
    )

    assert result.language == LANGUAGES[path.suffix]
    clamp, bare = result.functions
    assert (clamp.found, clamp.complexity, clamp.parameters) == (True, 3, 3)
    assert (clamp.documented, clamp.doc_score) == (True, 100)
    assert (bare.found, bare.complexity, bare.parameters) == (True, 2, 1)
    assert (bare.documented, bare.doc_score) == (False, 0)
    assert result.average_complexity == 2.5
    assert result.average_doc_score == 50.0


def test_length_and_lines_are_those_of_the_function(tmp_path):
    path = write(tmp_path, "clamp.py", CLAMP_SOURCES["clamp.py"])
    clamp, bare = analyse_file(
        path, [FunctionChange("clamp", "modified"), FunctionChange("bare", "modified")]
    ).functions
    assert (clamp.start_line, clamp.end_line, clamp.length) == (1, 16, 6)  # docstring is no code
    assert (bare.start_line, bare.end_line, bare.length) == (19, 20, 2)


@pytest.mark.parametrize(
    ("filename", "name", "source", "expected"),
    [
        # summary only, none of 2 params, no return described: 50 + 50 * 1/4, rounded half up
        ("a.py", "f", 'def f(a, b):\n    """Add two numbers."""\n    return a + b\n', 63),
        # a one-word summary describes nothing: 50
        ("a.py", "f", 'def f(a):\n    """Adds."""\n    return a\n', 50),
        # sphinx params and raises, return not described: 50 + 50 * 3/4
        (
            "a.py",
            "f",
            'def f(a):\n    """Check the value a.\n\n    :param a: value\n    :raises ValueError: bad\n    """\n'
            "    if not a:\n        raise ValueError(a)\n    return a\n",
            88,
        ),
        # a bare return and a nested function's return are no return value to describe
        (
            "a.py",
            "f",
            'def f():\n    """Run the callback once."""\n    def inner():\n        return 1\n    inner()\n    return\n',
            100,
        ),
        # a raise not described: summary + param of 3 checks
        (
            "a.py",
            "f",
            'def f(a):\n    """Check the value.\n\n    Args:\n        a: value\n    """\n    raise ValueError(a)\n',
            83,
        ),
        # Go comment not starting with the name, 1 of 2 params, return not described: 1/4
        (
            "a.go",
            "Add",
            "package a\n\n// adds x\nfunc Add(x, y int) int {\n\treturn x + y\n}\n",
            63,
        ),
        # Go parameters without names: only the summary to check
        ("a.go", "F", "package a\n\n// F ignores its arguments.\nfunc F(int, string) {\n}\n", 100),
        # Go comment separated by a blank line is not the function's doc
        ("a.go", "Add", "package a\n\n// Add adds.\n\nfunc Add(x int) {\n}\n", 0),
        # a plain /* */ comment is not JSDoc
        (
            "a.ts",
            "add",
            "/* Add two numbers. */\nfunction add(a: number) {\n  console.log(a);\n}\n",
            0,
        ),
        # JSDoc with the param but no @throws for a throw: 50 + 50 * 2/3
        (
            "a.ts",
            "check",
            "/** Check the given value.\n * @param a the value */\nfunction check(a: number) {\n"
            "  if (!a) { throw new Error('no'); }\n}\n",
            83,
        ),
        # Javadoc with @throws for a throws clause: 100
        (
            "A.java",
            "read",
            "class A {\n  /**\n   * Reads the file.\n   * @throws IOException when unreadable\n   */\n"
            "  void read() throws IOException {\n  }\n}\n",
            100,
        ),
        # public Rust fn returning Result: summary, `a`; no return, # Errors nor example: 2/5
        (
            "a.rs",
            "parse",
            "/// Parses the text `a`.\npub fn parse(a: &str) -> Result<u8, E> {\n    a.parse()\n}\n",
            70,
        ),
        # ... and with them all: 100
        (
            "a.rs",
            "parse",
            "/// Parses the text `a`.\n///\n/// Returns the number.\n///\n/// # Errors\n///\n/// When `a` is not a number.\n"
            '///\n/// # Examples\n///\n/// ```\n/// parse("1");\n/// ```\npub fn parse(a: &str) -> Result<u8, E> {\n    a.parse()\n}\n',
            100,
        ),
        # Rust `//` is not a doc comment
        ("a.rs", "parse", "// Parses the text.\nfn parse() {\n}\n", 0),
        # C: a // block directly above counts, param and return not described
        ("a.c", "add", "// Add two numbers.\nint add(int a) {\n    return a;\n}\n", 67),
    ],
)
def test_doc_score_rewards_each_described_part(tmp_path, filename, name, source, expected):
    path = write(tmp_path, filename, source)
    (metrics,) = analyse_file(path, [FunctionChange(name, "modified")]).functions
    assert metrics.found
    assert metrics.doc_score == expected
    assert metrics.documented is (expected > 0)


def test_effort_counts_complexity_only_for_existing_functions():
    assert effort_score(FunctionChange("f", "added", lines_added=10, lines_modified=4), 7) == 12.0
    assert (
        effort_score(FunctionChange("f", "modified", lines_added=10, lines_modified=4), 7) == 12.7
    )
    assert (
        effort_score(FunctionChange("f", "refactored", lines_modified=3, lines_deleted=9), 2) == 1.7
    )
    assert effort_score(FunctionChange("f", "deleted", lines_deleted=9), None) == 0.0


def test_a_reported_function_missing_from_the_file_is_kept_with_effort_from_its_lines(tmp_path):
    path = write(tmp_path, "clamp.py", CLAMP_SOURCES["clamp.py"])
    result = analyse_file(
        path, [FunctionChange("gone", "deleted", lines_added=2, lines_modified=4, lines_deleted=9)]
    )
    (gone,) = result.functions
    assert (gone.found, gone.complexity, gone.length, gone.start_line) == (False, None, None, None)
    assert (gone.documented, gone.doc_score, gone.effort_score) == (False, 0, 4.0)
    summary = result.to_dict()
    assert summary["functions_analyzed"] == 0
    assert summary["functions_not_found"] == ["gone"]
    assert summary["total_effort_score"] == 4.0


def test_to_dict_keeps_the_seed_result_shape(tmp_path):
    path = write(tmp_path, "clamp.py", CLAMP_SOURCES["clamp.py"])
    result = analyse_file(
        path, [FunctionChange("clamp", "modified", lines_added=3, lines_modified=2)]
    )
    summary = result.to_dict()
    assert summary["functions_analyzed"] == 1
    assert summary["average_complexity"] == 3
    assert summary["average_doc_quality"] == 100
    assert summary["total_effort_score"] == 4.3
    function = summary["functions"][0]
    assert function["function_name"] == "clamp"
    assert function["ai_contribution"] == {
        "lines_added": 3,
        "lines_modified": 2,
        "lines_deleted": 0,
        "complexity_added": 0,
    }
    assert function["context"]["final_complexity"] == 3
    assert function["context"]["cognitive_load"] == 3
    assert function["documentation"] == {"has_docstring": True, "quality_score": 100}
    assert function["value_metrics"] == {"effort_score": 4.3}


@pytest.mark.parametrize(
    ("filename", "source", "requested", "expected_line"),
    [
        (
            "g.py",
            "class Greeter:\n    def greet(self):\n        pass\n\ndef greet():\n    pass\n",
            "Greeter.greet",
            2,
        ),
        (
            "g.py",
            "class Greeter:\n    def greet(self):\n        pass\n\ndef greet():\n    pass\n",
            "greet",
            5,
        ),
        ("g.py", "class Greeter:\n    def greet(self):\n        pass\n", "Greeter::greet", 2),
        ("g.py", "class Greeter:\n    def greet(self):\n        pass\n", "Other.greet", None),
        ("G.java", "class G {\n  void greet() {}\n}\n", "G.greet", 2),
        ("G.java", "class G {\n  void greet() {}\n}\n", "G::greet", 2),
        ("g.go", "package g\n\ntype T struct{}\n\nfunc (t *T) Greet() {}\n", "T.Greet", 5),
        ("g.go", "package g\n\ntype T struct{}\n\nfunc (t *T) Greet() {}\n", "U.Greet", None),
        ("g.rs", "struct S;\nimpl S {\n    fn greet(&self) {}\n}\n", "S::greet", 3),
        ("g.ts", "class Box {\n  greet(): void {}\n}\nfunction greet() {}\n", "Box.greet", 2),
        ("g.ts", "class Box {\n  greet(): void {}\n}\nfunction greet() {}\n", "greet", 4),
    ],
)
def test_methods_are_found_by_qualified_or_plain_name(
    tmp_path, filename, source, requested, expected_line
):
    path = write(tmp_path, filename, source)
    (metrics,) = analyse_file(path, [FunctionChange(requested, "modified")]).functions
    assert metrics.found is (expected_line is not None)
    assert metrics.start_line == expected_line


def test_a_missing_file_is_an_error_that_names_it(tmp_path):
    with pytest.raises(CodeMetricsError, match=r"missing\.py: no such file"):
        analyse_file(tmp_path / "missing.py", [FunctionChange("f", "added")])


def test_a_directory_is_an_error(tmp_path):
    (tmp_path / "pkg.py").mkdir()
    with pytest.raises(CodeMetricsError, match="a directory"):
        analyse_file(tmp_path / "pkg.py", [FunctionChange("f", "added")])


def test_an_unsupported_language_is_an_error_listing_the_supported_extensions(tmp_path):
    path = write(tmp_path, "notes.txt", "hello\n")
    with pytest.raises(
        CodeMetricsError, match=r"unsupported language \.txt; supported extensions: .*\.py"
    ):
        analyse_file(path, [FunctionChange("f", "added")])


def test_an_unknown_modification_type_is_refused():
    with pytest.raises(CodeMetricsError, match="use one of added, modified, refactored, deleted"):
        FunctionChange("f", "renamed")
    with pytest.raises(CodeMetricsError, match="lines_added"):
        FunctionChange("f", "added", lines_added=-1)


def test_ensure_inside_accepts_paths_in_the_repository_without_reading_them(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    assert ensure_inside(Path("src/new.py"), root) == root.resolve() / "src" / "new.py"
    assert ensure_inside(root / "a.py", root) == root.resolve() / "a.py"


@pytest.mark.parametrize("outside", ["../secret.py", "/etc/passwd", "src/../../secret.py"])
def test_ensure_inside_refuses_paths_outside_the_repository(tmp_path, outside):
    root = tmp_path / "repo"
    root.mkdir()
    with pytest.raises(CodeMetricsError, match="is outside the session's repository"):
        ensure_inside(Path(outside), root)


def test_ensure_inside_refuses_a_symlink_that_escapes_the_repository(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "secret.py").write_text("KEY = 1\n")
    (root / "link.py").symlink_to(tmp_path / "secret.py")
    (root / "inner.py").symlink_to(root / "link.py")
    for name in ("link.py", "inner.py"):
        with pytest.raises(CodeMetricsError, match=f"{name} is outside the session's repository"):
            ensure_inside(root / name, root)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


CALC_BASE = """\
def add(a, b):
    total = a + b
    # nothing to see
    return total


def scale(x, factor):
    result = x * factor
    return result
"""
CALC_NOW = """\
def add(a, b):
    total = a + b
    return total


def scale(x, factor):
    result = x * factor * 2
    print(result)
    return result


def sub(a, b):
    return a - b
"""


def test_functions_changed_since_a_commit_are_classified_and_counted(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "calc.py", CALC_BASE)
    write(repo, "old_name.py", "def keep(a):\n    return a\n\n\ndef other():\n    return 1\n")
    write(repo, "gone.py", "def gone():\n    return 1\n")
    (repo / "blob.py").write_bytes(b"\x00\x01binary\n")
    write(repo, "README.md", "# readme\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()

    # committed after the base: a new function and a renamed, edited file
    (repo / "calc.py").write_text(CALC_BASE + "\n\ndef sub(a, b):\n    return a - b\n")
    git(repo, "mv", "old_name.py", "new name.py")
    (repo / "new name.py").write_text(
        "def keep(a):\n    return a + 1\n\n\ndef other():\n    return 1\n"
    )
    git(repo, "commit", "-q", "-am", "sub")
    # uncommitted: edits, a deleted file, a binary change, an untracked file, an ignored one
    (repo / "calc.py").write_text(CALC_NOW)
    (repo / "gone.py").unlink()
    (repo / "blob.py").write_bytes(b"\x00\x02binary\n")
    (repo / "README.md").write_text("# readme\nmore\n")
    write(repo, "pkg/fresh.py", "class Fresh:\n    def hello(self):\n        return 'hi'\n")
    write(repo, ".gitignore", "build/\n")
    write(repo, "build/out.py", "def generated():\n    return 1\n")
    (repo / "alias.py").symlink_to("calc.py")

    changed = functions_changed_between(repo, base)

    root = repo.resolve()
    assert changed == {
        root / "calc.py": [
            FunctionChange("add", "modified", lines_deleted=1),
            FunctionChange("scale", "modified", lines_added=1, lines_modified=1),
            FunctionChange("sub", "added", lines_added=2),
        ],
        root / "new name.py": [FunctionChange("keep", "modified", lines_modified=1)],
        root / "pkg" / "fresh.py": [FunctionChange("Fresh.hello", "added", lines_added=2)],
    }
    # the names git found are names analyse_file finds
    for path, changes in changed.items():
        assert all(f.found for f in analyse_file(path, changes).functions)


def test_without_a_base_every_function_of_the_work_tree_is_added(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, "staged.go", "package a\n\nfunc A() int {\n\treturn 1\n}\n")
    git(repo, "add", "staged.go")
    write(repo, "calc.py", CALC_BASE)

    changed = functions_changed_between(repo, None)

    root = repo.resolve()
    assert changed == {
        root / "calc.py": [
            FunctionChange("add", "added", lines_added=4),
            FunctionChange("scale", "added", lines_added=3),
        ],
        root / "staged.go": [FunctionChange("A", "added", lines_added=3)],
    }


def test_outside_a_git_repository_nothing_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # even if /tmp is in one
    write(tmp_path, "calc.py", CALC_BASE)
    assert functions_changed_between(tmp_path, None) == {}
    assert functions_changed_between(tmp_path / "missing", "HEAD") == {}


def test_an_unknown_base_revision_is_an_error(tmp_path):
    git(tmp_path, "init", "-q")
    with pytest.raises(CodeMetricsError, match="base revision 'nope' is not a commit"):
        functions_changed_between(tmp_path, "nope")
