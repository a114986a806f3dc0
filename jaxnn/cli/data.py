"""``jaxnn data list | prepare | verify``: the datasets, their preparation and verification."""

from __future__ import annotations

from jaxnn.cli.arguments import MANUAL_DIR_HELP
from jaxnn.errors import ConfigError


def cmd_data_list(args) -> int:
    from jaxnn import data

    print(f"{'name':<14} {'what':<70} source")
    for name, spec in data.DATASETS.items():
        print(f"{name:<14} {spec.description:<70} {spec.source}")
    return 0


def cmd_data_prepare(args) -> int:
    from jaxnn import data

    if args.name in data.DEBIAN_FOLDERS:
        print(f"{args.name}: {data.prepare(args.name, args.data_dir, args.manual_dir)}")
    elif args.name in data.DATASETS:
        print(f"{args.name}: nothing to prepare ({data.DATASETS[args.name].source})")
    else:
        raise ConfigError(
            f"unknown dataset {args.name!r}; choose one of: {', '.join(data.DATASETS)}"
        )
    return 0


def cmd_data_verify(args) -> int:
    from jaxnn import data

    if args.name not in data.DEBIAN_FOLDERS:
        raise ConfigError(f"{args.name!r} has no prepared copy to verify; choose one of: "
                          f"{', '.join(data.DEBIAN_FOLDERS)}")  # fmt: skip
    print(f"{args.name}: {data.verify(args.name, args.data_dir)}")
    return 0


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("data", help="datasets: list, prepare, verify")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("list", help="what is available and where it comes from")
    q.set_defaults(func=cmd_data_list)
    q = data_sub.add_parser("prepare", help="build a TFDS dataset once (download or local)")
    q.add_argument("name")
    q.add_argument("--data-dir", default=None)
    q.add_argument("--manual-dir", default=None, help=MANUAL_DIR_HELP)
    q.set_defaults(func=cmd_data_prepare)
    q = data_sub.add_parser("verify", help="check a prepared copy whole (SHA-256, records)")
    q.add_argument("name")
    q.add_argument("--data-dir", default=None)
    q.set_defaults(func=cmd_data_verify)
