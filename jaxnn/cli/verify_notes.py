"""``jaxnn verify-notes``: every printed claim of the lecture notes checked (``jaxnn.verify``)."""

from __future__ import annotations


def cmd_verify_notes(args) -> int:
    from jaxnn import verify

    rows = verify.run()
    verify.write(rows, args.out)
    print(verify.table(rows))
    print(f"report: {args.out}")
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(verify.markdown(rows) + "\n")
        print(f"markdown table: {args.markdown}")
    return 0


def add_parser(sub) -> None:
    """The subcommand's arguments, on ``jaxnn``'s parser."""
    p = sub.add_parser("verify-notes", help="check every printed claim of the lecture notes")
    p.add_argument("--out", default="claims.json", help="where to write the JSON report")
    p.add_argument("--markdown", default=None, help="also write the README's failure table")
    p.set_defaults(func=cmd_verify_notes)
