"""`linli`: the operators' command line (typer + rich), reaching the services only through
their public gRPC APIs."""
