"""``kubectl eoe …``: the command line as a kubectl plugin.

kubectl runs any executable called ``kubectl-<name>`` found on ``PATH`` for ``kubectl <name>``,
passing it the remaining arguments; installing the package puts ``kubectl-eoe`` there
(``[project.scripts]``). It is the same typer app, so every command — today's and any added
later — works under the name users type, with the same options and exit codes.

Shell completion for plugins goes through kubectl (1.26 and later): it runs
``kubectl_complete-eoe ARGS… WORD`` and reads the candidates in the format of its own completion
(cobra's: one per line, an optional tab and description, and a last line ``:<directive>``).
:func:`complete` answers that from the app's own definitions. typer's
``--install-completion`` is left out of the plugin: it would install a script for a program
called ``kubectl eoe``, which no shell can run; ``orchestration-engine --install-completion``
is the one for the plain command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

# typer carries its own copy of click (typer._click): the app's commands are of its classes,
# which the separately installed click's completion does not recognise as groups.
from typer._click.core import Command
from typer._click.shell_completion import CompletionItem, ShellComplete

from orchestration_engine.cli.main import app

PROG_NAME = "kubectl eoe"

# cobra's ShellCompDirective values, as kubectl reads them.
DIRECTIVE_DEFAULT = 0  # let the shell complete file names
DIRECTIVE_NO_FILE_COMPLETION = 4


def command() -> Command:
    """The app as a click group, without typer's completion-installing options."""
    return typer.main.get_group(app)


def main() -> None:
    command().main(prog_name=PROG_NAME)


class KubectlComplete(ShellComplete):
    """kubectl's completion protocol: the words after ``kubectl eoe`` come as arguments, the
    last being the one to complete; kubectl itself is the shell script, so there is none."""

    name = "kubectl"

    def __init__(self, args: Sequence[str]) -> None:
        super().__init__(command(), {}, PROG_NAME, "_KUBECTL_EOE_COMPLETE")
        self.args = list(args)

    def source_vars(self) -> dict[str, Any]:
        return {}

    def get_completion_args(self) -> tuple[list[str], str]:
        words = list(self.args)
        return words, words.pop() if words else ""

    def format_completion(self, item: CompletionItem) -> str:
        help_text = " ".join(str(item.help or "").split())
        return f"{item.value}\t{help_text}" if help_text else str(item.value)

    def lines(self) -> list[str]:
        """The candidates, then the directive. No candidate (a path, a free value): the shell
        completes file names, as typer's own completion scripts let it."""
        lines = [
            self.format_completion(item)
            for item in self.get_completions(*self.get_completion_args())
            if item.type not in ("file", "dir")
        ]
        directive = DIRECTIVE_NO_FILE_COMPLETION if lines else DIRECTIVE_DEFAULT
        return [*lines, f":{directive}"]


def completions(args: Sequence[str]) -> list[str]:
    return KubectlComplete(args).lines()


def complete() -> None:
    sys.stdout.write("\n".join(completions(sys.argv[1:])) + "\n")


if __name__ == "__main__":
    main()
