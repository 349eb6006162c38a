from linli_runtime.registry import ServiceDescriptor

SERVICE = ServiceDescriptor(
    name="trust-governance",
    module="linli_governance.app",
    default_port=50051,
    # Owns the org tree every other service learns from: start it first.
    start_order=10,
    description="org tree, trust-model rollout, trust common accounts, owners' votes, disclosures",
)
