"""The web portal: a small HTTP gateway that renders the residents' and operators' pages from
the platform's public gRPC APIs. It has no database of its own."""
