from linli_runtime.registry import ServiceDescriptor

# The issuer's HTTP port under `make run` (OIDC discovery, JWKS, the token endpoint, the sign-in
# pages): fixed like the gRPC port, so the issuer URL people and services are given is stable.
HTTP_PORT = 8090

SERVICE = ServiceDescriptor(
    name="identity",
    module="linli_identity.app",
    default_port=50055,
    # Every other service verifies tokens against its keys: start it first.
    start_order=5,
    description="accounts, role grants at org scopes, signing keys; the OIDC token issuer (HTTP)",
    issuer=True,
    http_port=HTTP_PORT,
    client_role="",
)
