"""One module per CLI command group; each defines `add_parser(subparsers)`."""
