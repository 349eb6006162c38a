from linli_runtime.registry import ServiceDescriptor

SERVICE = ServiceDescriptor(
    name="portal",
    module="linli_portal.main",
    default_port=8080,
    # Last: it only reads from and writes through the other services.
    start_order=900,
    description="web portal: residents' compound pages and operators' dashboards (HTTP)",
    protocol="http",
    # Its public pages read with a token of its own that carries only the read-only `portal` role.
    client_role="portal",
)
