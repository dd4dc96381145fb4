"""The README runs as written.

Its ```bash and ```python blocks are run in order, in ONE temporary folder laid out like a
checkout (``.venv`` linked to the running environment, a copy of ``workflows/``), so a later block
sees what an earlier one wrote; the venv's ``bin`` comes first on PATH and ``PVATOMS_STORE`` points
into the folder (the default store in ``~`` is never touched). Every command of a block must exit 0
(a block runs under ``set -e``). One test per block, in README order.

HTML comments on the lines right above a block tell the test how to run it:

- ``<!-- readme-test: skip (why) -->``: not run (./run.sh itself, a queue, a MongoDB server,
  VASP on a cluster, the full demo);
- ``<!-- readme-test: replace "A" "B" -->``: run with ``A`` replaced by ``B`` (a faster backend or
  settings; the README shows the real command); repeatable, and ``A`` must occur in the block;
- ``<!-- readme-test: slow (why) -->``: the block takes more than ~20 s, or needs the outputs of a
  slow block (``pytest -m "not slow"`` leaves it out, with everything that depends on it);
- ``<!-- readme-test: exit N (why) -->``: the block's last command exits N (by design).

Every ``pvatoms ...`` command of every bash block, skipped ones included, must parse with the
real command-line parser.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
#: what a block may take before it is killed, s (a slow block takes well under a minute)
BLOCK_TIMEOUT = 300

DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
RUNNABLE = ("bash", "python")
#: the only reasons a block may be skipped (the brief of this test: nothing else is skipped)
SKIP_REASONS = ("./run.sh", "queue", "MongoDB", "VASP on a cluster", "full demo")


@dataclass
class Block:
    """One fenced ```bash or ```python block of the README and what the comments above it say."""
    index: int
    lang: str
    code: str
    line: int                                  # line of the opening fence (1-based)
    skip: str | None = None
    slow: str | None = None
    exit: int = 0
    replace: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.index:02d}-{self.lang}-line{self.line}"

    def runnable_code(self) -> str:
        code = self.code
        for old, new in self.replace:
            code = code.replace(old, new)
        return code


def _apply(block: Block, directive: str, where: str) -> None:
    word, _, rest = directive.partition(" ")
    rest = rest.strip()
    if word == "skip":
        if not rest:
            raise ValueError(f"{where}: skip needs a reason, e.g. skip (needs a SLURM queue)")
        block.skip = rest.strip("()")
    elif word == "slow":
        block.slow = rest.strip("()") or "slow"
    elif word == "exit":
        code, _, _ = rest.partition(" ")
        block.exit = int(code)
    elif word == "replace":
        parts = shlex.split(rest)
        if len(parts) != 2:
            raise ValueError(f"{where}: replace takes two quoted strings, got {rest!r}")
        if parts[0] not in block.code:
            raise ValueError(f"{where}: replace {parts[0]!r}: not in the block below it")
        block.replace.append(tuple(parts))
    else:
        raise ValueError(f"{where}: unknown readme-test directive {directive!r} (skip, slow, exit, replace)")


def parse_readme(text: str) -> list[Block]:
    """The bash and python blocks of ``text`` with their directives, in order."""
    lines = text.splitlines()
    blocks, pending, i = [], [], 0
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if m:
            pending.append((i + 1, m.group(1)))
            i += 1
            continue
        f = FENCE.match(lines[i])
        if not f:
            if pending:
                raise ValueError(f"README line {pending[0][0]}: a readme-test comment must be right above a block")
            i += 1
            continue
        start, lang = i, f.group(1)
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if i >= len(lines):
            raise ValueError(f"README line {start + 1}: unclosed code block")
        if lang in RUNNABLE:
            block = Block(len(blocks) + 1, lang, "\n".join(lines[start + 1:i]) + "\n", start + 1)
            for where, d in pending:
                _apply(block, d, f"README line {where}")
            blocks.append(block)
        elif pending:
            raise ValueError(f"README line {pending[0][0]}: readme-test comment above a ```{lang} block")
        pending = []
        i += 1
    return blocks


def bash_commands(code: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments and blank lines left out."""
    out, current = [], ""
    for line in code.splitlines():
        if current:
            current += " " + line.strip()
        elif line.strip() and not line.lstrip().startswith("#"):
            current = line.strip()
        else:
            continue
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        out.append(current)
        current = ""
    return out


BLOCKS = parse_readme(README.read_text())


def _param(block: Block):
    marks = []
    if block.skip:
        marks.append(pytest.mark.skip(reason=f"README line {block.line}: {block.skip}"))
    if block.slow:
        marks.append(pytest.mark.slow)
    return pytest.param(block, id=block.id, marks=marks)


# -- the README's shape -------------------------------------------------------------------------------

def test_readme_has_blocks_and_skips_only_what_cannot_run():
    assert len(BLOCKS) >= 10
    assert BLOCKS[0].skip and "./run.sh demo" in BLOCKS[0].code, "the Two commands block comes first"
    for b in BLOCKS:
        if b.skip:
            assert any(r in b.skip for r in SKIP_REASONS), f"README line {b.line}: skip ({b.skip})"
    ran = [b for b in BLOCKS if not b.skip]
    assert len(ran) >= 0.7 * len(BLOCKS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "bash"], ids=lambda b: b.id)
def test_every_pvatoms_command_parses(block):
    from pvatoms.cli.main import build_parser
    for cmd in bash_commands(block.code):
        words = shlex.split(cmd, comments=True)
        if not words or words[0] != "pvatoms":
            continue
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as exc:
            if exc.code != 0:                      # --help exits 0
                raise AssertionError(f"README line {block.line}: {cmd!r} does not parse") from None


def test_parser_reads_directives():
    text = ('<!-- readme-test: replace "--backend sevennet" "--backend chgnet" -->\n'
            "<!-- readme-test: slow (a NEB) -->\n```bash\npvatoms run relax x.cif --backend sevennet \\\n"
            "    -o r   # comment\n# a comment\n```\n\n```\ntree\n```\n"
            "<!-- readme-test: skip (needs a SLURM queue) -->\n```python\nprint(1)\n```\n")
    a, b = parse_readme(text)
    assert a.replace == [("--backend sevennet", "--backend chgnet")] and a.slow == "a NEB"
    assert "--backend chgnet" in a.runnable_code() and a.skip is None
    assert bash_commands(a.code) == ["pvatoms run relax x.cif --backend sevennet -o r   # comment"]
    assert b.lang == "python" and b.skip == "needs a SLURM queue"
    with pytest.raises(ValueError, match="not in the block"):
        parse_readme('<!-- readme-test: replace "zz" "y" -->\n```bash\nls\n```\n')
    with pytest.raises(ValueError, match="right above a block"):
        parse_readme("<!-- readme-test: slow -->\n\ntext\n```bash\nls\n```\n")


# -- running it ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The one folder every block runs in: a checkout's shape, with the running venv as .venv."""
    root = tmp_path_factory.mktemp("readme")
    (root / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    shutil.copytree(REPO / "workflows", root / "workflows")
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               PVATOMS_STORE=str(root / "store"), MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env.pop("PVATOMS_VASP_CMD", None)
    return {"root": root, "env": env, "failed": []}


def _run(block: Block, checkout) -> subprocess.CompletedProcess:
    root, code = checkout["root"], block.runnable_code()
    script = root / f".readme-block-{block.index:02d}.{'sh' if block.lang == 'bash' else 'py'}"
    if block.lang == "bash":
        script.write_text("set -eo pipefail\ntrap 'echo \"README command failed ($?): $BASH_COMMAND\" >&2' ERR\n"
                          + code)
        argv = ["bash", str(script)]
    else:
        script.write_text(code)
        argv = [str(VENV_BIN / "python"), str(script)]
    return subprocess.run(argv, cwd=root, env=checkout["env"], capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_readme_block_runs(block, checkout):
    if checkout["failed"]:
        pytest.skip(f"an earlier README block failed (line {checkout['failed'][0]})")
    try:
        proc = _run(block, checkout)
    except subprocess.TimeoutExpired:
        checkout["failed"].append(block.line)
        raise AssertionError(f"README block at line {block.line} ran longer than {BLOCK_TIMEOUT} s") from None
    if proc.returncode != block.exit:
        checkout["failed"].append(block.line)
        raise AssertionError(f"README block at line {block.line} exited {proc.returncode} (expected "
                             f"{block.exit}):\n{block.runnable_code()}\n--- stdout\n{proc.stdout[-3000:]}\n"
                             f"--- stderr\n{proc.stderr[-5000:]}")
