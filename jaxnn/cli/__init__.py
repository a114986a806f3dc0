"""The ``jaxnn`` command line, one module per subcommand (``gradcheck``, ``train``, ``data``,
``sweep``, ``models`` with ``summary``, ``verify_notes``, ``tune``, ``demo``), the arguments
they share (``arguments``) and ``main``. Errors become one line on stderr and an exit code:

0 ok · 1 gradient check failed · 2 bad input or settings · 3 bad data ·
4 dataset unavailable · 5 checkpoint problem · 6 training diverged ·
7 distributed run failed
"""

from jaxnn.cli.gradcheck import gradcheck_summary, print_gradcheck_summary
from jaxnn.cli.main import BROKEN_PIPE_EXIT, _resume_hint, build_parser, main, run  # noqa: F401
from jaxnn.cli.models import format_defaults, format_models, format_summary
from jaxnn.cli.train import _config_from_args, request_devices, summary_line  # noqa: F401
from jaxnn.flags import parse_layers, parse_options, parse_shape

__all__ = ["BROKEN_PIPE_EXIT", "build_parser", "format_defaults", "format_models",
           "format_summary", "gradcheck_summary", "main", "parse_layers", "parse_options",
           "parse_shape", "print_gradcheck_summary", "request_devices", "run",
           "summary_line"]  # fmt: skip
