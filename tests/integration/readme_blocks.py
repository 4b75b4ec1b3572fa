#!/usr/bin/env python3
"""Extracts the fenced blocks of README.md for tests/integration/readme.sh.

Usage: readme_blocks.py README.md OUTDIR

Every fenced block gets a fate. A ```sh block is run (the default); any other block (output,
file contents, a source map) must say what it is. A fate is an HTML comment on the lines right
above the fence, one per line, which readers of the rendered page do not see and readers of
the source do:

  <!-- readme-test: skip: REASON -->    not run (sh: checked with bash -n); REASON names why
                                         and, where there is one, the test that covers it
  <!-- readme-test: text: WHAT -->      not a command: sample output, a listing
  <!-- readme-test: file: PATH -->      contents written to PATH (in the sandbox) when reached
  <!-- readme-test: compile -->         cpp: its #include lines, then the rest as the body of
                                         main(), must compile (-Wall -Wextra -Werror, against
                                         the source tree's headers)
  <!-- readme-test: serve -->           sh: the block's last command is a server: it runs in
                                         the background (as in its own terminal) and the
                                         section goes on once it is serving
  <!-- readme-test: stopped -->         sh: the section's server is stopped first, as the
                                         prose around the block says
  <!-- readme-test: server: COMMAND --> the section's server is COMMAND rather than the quick
                                         start's, as the prose says the reader has
  <!-- readme-test: expect: TEXT -->    sh: the block's output contains TEXT (repeatable; a
                                         run of blanks and newlines matches any other)

Writes OUTDIR/NNN-section.sh, one bash session per README section (a heading) with runnable
blocks, OUTDIR/skip-LINE.sh for each skipped sh block and OUTDIR/compile-LINE.cpp for each compiled
block; prints one line per block
("LINE FATE SECTION") on stdout. Exits 1 naming the line of a block without a fate or of an
annotation it does not know.
"""
import os
import re
import shlex
import sys

ANNOTATION = re.compile(r"^<!-- readme-test: ([a-z]+)(?:: (.*?))? -->$")
FENCE = re.compile(r"^```(\S*)\s*$")
HEADING = re.compile(r"^(#{1,6}) (.*)$")
RUNNABLE = {"sh"}
# The quick start's server (what scripts/run starts), for sections that name no other.
DEFAULT_SERVER = "ingot serve --data ./ingot-data --listen 127.0.0.1:8080"
EOF_MARK = "__README_BLOCK_EOF"


class Block:
    def __init__(self, line, lang, section, notes):
        self.line = line  # the fence's line number, 1-based
        self.lang = lang
        self.section = section
        self.notes = notes  # [(key, value)]
        self.text = []

    def note(self, key):
        return [v for k, v in self.notes if k == key]


def error(line, message):
    sys.exit(f"README.md:{line}: {message}")


def parse(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, section, block, pending = [], (0, "(top)"), None, []
    for number, line in enumerate(lines, 1):
        if block is not None:
            if line.startswith("```"):
                blocks.append(block)
                block = None
            else:
                block.text.append(line)
            continue
        fence = FENCE.match(line)
        if fence:
            block = Block(number, fence.group(1), section, pending)
            pending = []
            continue
        note = ANNOTATION.match(line)
        if note:
            pending.append((note.group(1), note.group(2)))
            continue
        if pending:
            error(number - 1, "a readme-test annotation must be right above a fence")
        heading = HEADING.match(line)
        if heading:
            section = (number, heading.group(2))
    if block is not None:
        error(block.line, "fence never closed")
    return blocks


def fate(block):
    keys = [k for k, _ in block.notes]
    for key, value in block.notes:
        if key not in ("skip", "text", "file", "compile", "serve", "stopped", "server", "expect"):
            error(block.line, f"unknown readme-test annotation '{key}'")
        if key in ("skip", "text", "file", "server", "expect") and not value:
            error(block.line, f"readme-test: {key} needs a value after ': '")
    exclusive = [k for k in keys if k in ("skip", "text", "file", "compile", "serve", "stopped")]
    if len(exclusive) > 1:
        error(block.line, f"readme-test: {' and '.join(exclusive)} exclude each other")
    if exclusive and exclusive[0] in ("skip", "text", "file"):
        return exclusive[0]
    if exclusive and exclusive[0] == "compile":
        if block.lang != "cpp":
            error(block.line, "readme-test: compile is for ```cpp blocks")
        return "compile"
    if block.lang not in RUNNABLE:
        error(block.line, f"a ```{block.lang} block has no fate: annotate it "
              "(<!-- readme-test: skip: WHY -->, text: WHAT, file: PATH or compile)")
    return exclusive[0] if exclusive else "run"


def last_command(text):
    """Splits a block into what comes before its last command and that command."""
    end = len(text)
    while end > 0 and (not text[end - 1].strip() or text[end - 1].lstrip().startswith("#")):
        end -= 1
    start = end - 1
    while start > 0 and text[start - 1].rstrip().endswith("\\"):
        start -= 1
    if start < 0:
        return text, ""
    return text[:start], "\n".join(text[start:end])


def session(blocks):
    """A bash session running a section's blocks in order (the helpers come from readme.sh)."""
    first = blocks[0]
    servers = [v for b in blocks for v in b.note("server")]
    serves = any(b.fate == "serve" for b in blocks)
    if len(servers) > 1 or (servers and serves):
        error(first.line, "a section names its server once (server: or a serve block)")
    server = servers[0] if servers else ("" if serves else DEFAULT_SERVER)
    out = [f"__section {first.section[0]} {shlex.quote(first.section[1])} {shlex.quote(server)}"]
    for b in blocks:
        body = "\n".join(b.text)
        if b.fate == "file":
            target = b.note("file")[0]
            out += [f"__file {b.line} {shlex.quote(target)} <<'{EOF_MARK}'", body, EOF_MARK]
            continue
        out.append(f"__begin {b.line} {b.fate}")
        if b.fate == "serve":
            before, command = last_command(b.text)
            if not command.strip():
                error(b.line, "readme-test: serve, but the block has no command")
            out += before + [f"__serve <<'{EOF_MARK}'", command, EOF_MARK]
        else:
            out.append(body)
        out.append(f"__end {b.line}")
        for text in b.note("expect"):
            out.append(f"__expect {b.line} {shlex.quote(text)}")
    out.append("__finish")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    readme, outdir = sys.argv[1:]
    os.makedirs(outdir, exist_ok=True)
    blocks = parse(readme)
    sections = {}
    for b in blocks:
        b.fate = fate(b)
        if b.fate in ("run", "serve", "stopped", "file"):
            sections.setdefault(b.section, []).append(b)
        elif b.fate == "skip" and b.lang in RUNNABLE:
            with open(os.path.join(outdir, f"skip-{b.line}.sh"), "w", encoding="utf-8") as f:
                f.write("\n".join(b.text) + "\n")
        elif b.fate == "compile":
            includes = [t for t in b.text if t.startswith("#include")]
            body = [t for t in b.text if not t.startswith("#include")]
            with open(os.path.join(outdir, f"compile-{b.line}.cpp"), "w", encoding="utf-8") as f:
                f.write("\n".join(includes + ["int main() {"] + body + ["}"]) + "\n")
        if b.note("expect") and b.fate not in ("run", "serve", "stopped"):
            error(b.line, f"a {b.fate} block is not run: expect does not apply")
        if b.note("server") and b.fate not in ("run", "serve", "stopped", "file"):
            error(b.line, f"a {b.fate} block has no session: server does not apply")
        print(f"{b.line} {b.fate} {b.section[1]}")
    for n, (section, members) in enumerate(sections.items()):
        with open(os.path.join(outdir, f"{n:03d}-section.sh"), "w", encoding="utf-8") as f:
            f.write(session(members))


if __name__ == "__main__":
    main()
