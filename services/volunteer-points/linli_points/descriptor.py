from linli_runtime.registry import ServiceDescriptor

SERVICE = ServiceDescriptor(
    name="volunteer-points",
    module="linli_points.app",
    default_port=50052,
    start_order=20,
    description="volunteers, pairings, the points ledger (holds), rankings, year-end awards",
)
