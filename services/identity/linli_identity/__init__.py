"""identity: who is who on the platform, and who may do what where.

It owns the accounts (one per person or machine, global: `acc_…`), the role grants at org
scopes with their audit trail, the issuer's signing keys, and the OAuth clients; and it runs
the platform's OIDC token issuer over HTTP beside its gRPC admin API (see README "Accounts and
sign-in"). Any OIDC provider can replace the issuer in production; the accounts and grants then
come from that provider's claims.
"""
