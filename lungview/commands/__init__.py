"""One module per subcommand (see lungview.cli)."""
