"""How every ``--help`` is laid out.

Descriptions and epilogs are written as paragraphs separated by blank lines:
a paragraph is wrapped to the terminal, unless one of its lines is indented
(a list, examples), which is kept exactly as written. Every command's help
ends with the exit codes (``client.ExitCode``).
"""

from __future__ import annotations

import argparse
import textwrap


class HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.strip("\n").split("\n\n"):
            if any(line.startswith(" ") for line in paragraph.splitlines()):
                paragraphs.append(textwrap.indent(paragraph, indent))
            else:
                paragraphs.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                                subsequent_indent=indent))  # fmt: skip
        return "\n\n".join(paragraphs)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break inside a flag, a date pattern or a slug at its hyphens.
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)
