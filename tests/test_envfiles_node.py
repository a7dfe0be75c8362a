"""The suite reads `.env` files exactly as Node's dotenv does: the pinned dotenv (tools/) is run
with `node` on every file of tests/env_corpus.py and on every merge result, and compared."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from env_corpus import FILES

from lomash_tasks.env import files as envfiles
from lomash_tasks.errors import UserError

SUITE = Path(__file__).resolve().parent.parent
DOTENV = SUITE / "tools" / "node_modules" / "dotenv"
NODE_PARSE = """
const fs = require('fs');
const dotenv = require(process.argv[1]);
const out = {};
for (const file of process.argv.slice(2)) {
  out[file] = dotenv.parse(fs.readFileSync(file, {encoding: 'utf8'}));
}
process.stdout.write(JSON.stringify(out));
"""


def node_parse(paths: list[Path], dotenv: Path = DOTENV) -> dict[str, dict[str, str]]:
    """What Node's dotenv reads from each file (one node process for all)."""
    node = shutil.which("node")
    if node is None or not dotenv.is_dir():
        pytest.fail("node and tools/node_modules/dotenv are needed (run `make install`)")
    done = subprocess.run(
        [node, "-e", NODE_PARSE, str(dotenv), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("envcorpus")
    paths = {}
    for name, data in FILES.items():
        paths[name] = folder / f"{name}.env"
        paths[name].write_bytes(data)
    read = node_parse(list(paths.values()))
    return {name: (path, read[str(path)]) for name, path in paths.items()}


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_suite_reads_what_node_reads(corpus, name):
    path, by_node = corpus[name]
    ours = envfiles.read_env(path)
    assert ours.as_dict() == by_node
    assert list(ours.as_dict()) == list(by_node)  # and in the same order


def test_dotenv_16_of_the_workspace_reads_the_corpus_as_17_does(corpus):
    """The services load .env through the workspace's own dotenv 16.x (via Prisma's config
    loader); the suite is checked against the tools' pinned 17.x: both read alike."""
    found = sorted(
        (SUITE / "examples/lomash-wood/node_modules/.pnpm").glob("dotenv@16.*/node_modules/dotenv")
    )
    if not found:
        pytest.skip("the workspace's node_modules hold no dotenv 16 (run `make install`)")
    paths = [path for path, _ in corpus.values()]
    by_16 = node_parse(paths, found[-1])
    assert {str(p): by_node for p, by_node in corpus.values()} == by_16


def test_the_pinned_dotenv_is_the_one_in_the_lockfile():
    lock = json.loads((SUITE / "tools" / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/dotenv"]["version"]
    installed = json.loads((DOTENV / "package.json").read_text())["version"]
    assert pinned == installed and pinned.split(".")[0] in ("16", "17")


@pytest.mark.parametrize(
    "name, line, words",
    [
        ("hash_in_unquoted", 1, "the value of JWT_SECRET has an unquoted '#'"),
        ("hash_in_unquoted", 2, "the value of COLOR starts with an unquoted '#'"),
        ("unterminated", 1, "the value of A opens a quote"),
        ("bare_key_and_quoted_key", 1, "Node's dotenv ignores this line"),
        ("bare_key_and_quoted_key", 2, "Node's dotenv ignores this line"),
        (
            "multiline_with_assignments",
            1,
            "holds lines that look like assignments (KEY_INSIDE, export ALSO)",
        ),
        ("proto", 1, "__proto__"),
        ("quote_then_text", 2, "has its quote character (') inside the quotes too"),
        ("windows_path", 2, "backslash escapes other than \\n and \\r: Node keeps them"),
        ("escaped_quote", 1, "backslash escapes other than"),
    ],
)
def test_ambiguous_lines_are_warned_with_file_and_line(corpus, name, line, words):
    path, _ = corpus[name]
    warnings = envfiles.read_env(path).warnings
    assert any(w.startswith(f"{path}, line {line}: ") and words in w for w in warnings), warnings


def test_plain_files_have_no_warnings(corpus):
    for name in ("basic", "quotes", "multiline", "export", "crlf", "bom", "huge_unquoted"):
        assert envfiles.read_env(corpus[name][0]).warnings == [], name


def test_the_line_of_a_key_counts_crlf_and_lone_cr_as_dotenv_does(corpus):
    env = envfiles.read_env(corpus["mixed_endings"][0])
    assert [(e.key, e.line, e.last_line) for e in env.entries] == [
        ("A", 1, 1),
        ("B", 2, 2),
        ("C", 3, 3),
        ("D", 4, 6),
    ]


# -- merges, checked in Node's eyes ---------------------------------------------------------------
MERGES = {
    "multiline_new_in_example": (
        "PORT=3001\n",
        'PORT=3001\nCERT="-----BEGIN-----\nKEY_INSIDE=1\n-----END-----"\nAFTER=1\n',
    ),
    "bare_key_in_example": ("A=1\n", "A=1\nBARE\n'QK'=2\n"),
    "crlf_current_and_example": ('A=1\r\nB="x\r\ny"', "A=1\r\nC='p\r\nq'\r\nD=4\r\n"),
    "current_without_final_newline": ("A=1", "A=1\nB=2\n"),
    "example_duplicate_last_wins": ("A=1\n", "A=1\nB=first\nB=second\n"),
    "hash_and_quotes": ("# mine\nA=1  # kept\n", "A=1\nB=\"#not a comment\"\nC='x # y'\nD=v # c\n"),
    "export_and_colon": ("A=1\n", "export B=2\nC: 3\n"),
    "bom_example": ("A=1\n", "\ufeffA=1\nB=2\n"),
    "huge_multiline": ("A=1\n", "A=1\nBIG='" + "l\n" * 50_000 + "'\n"),
}


@pytest.mark.parametrize("name", sorted(MERGES))
def test_merges_add_values_node_reads_exactly_and_a_second_run_changes_nothing(tmp_path, name):
    current_text, example_text = MERGES[name]
    cur, ex = tmp_path / ".env", tmp_path / ".env.example"
    cur.write_bytes(current_text.encode())
    ex.write_bytes(example_text.encode())
    example = envfiles.read_env(ex)
    current = envfiles.read_env(cur)
    text, added = envfiles.merged_text(example, current)
    assert text.startswith(current_text)  # every byte the developer wrote is kept
    merged = tmp_path / "merged.env"
    merged.write_bytes(text.encode())
    by_node = node_parse([cur, ex, merged])
    before, wanted, after = by_node[str(cur)], by_node[str(ex)], by_node[str(merged)]
    assert added == [k for k in wanted if k not in before]
    assert after == {**before, **{k: wanted[k] for k in added}}
    # a second run adds nothing and changes no byte
    again, more = envfiles.merged_text(example, envfiles.parse_env(text, merged))
    assert more == [] and again == text


def test_a_merge_after_an_open_quote_is_refused(tmp_path):
    cur, ex = tmp_path / ".env", tmp_path / ".env.example"
    cur.write_text('A="open\n')
    ex.write_text('A=1\nB="2"\n')
    with pytest.raises(UserError, match="line 1: cannot parse this line safely"):
        envfiles.merged_text(envfiles.read_env(ex), envfiles.read_env(cur))


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "with space",
        "a#b",
        "x'y",
        'x"y',
        "multi\nline",
        "back\\nslash-n",
        "tab\there",
        "  padded  ",
        "",
        "`tick`'q'",
        "${NOT_EXPANDED}",
        "é ✓",
    ],
)
def test_set_key_writes_values_node_reads_back_exactly(tmp_path, value):
    path = tmp_path / ".env"
    path.write_text("FIRST=1\nKEY=old\nLAST=2\n")
    envfiles.set_key(path, "KEY", value)
    envfiles.set_key(path, "NEW", value)
    by_node = node_parse([path])[str(path)]
    assert by_node == {"FIRST": "1", "KEY": value, "LAST": "2", "NEW": value}
    assert envfiles.set_key(path, "KEY", value) is False  # already so: no write
