"""partner-redemption: the partners of a community (member units, signed partners, merchants),
merchants' POS terminals and their credentials, the reward catalogue and its stock, member
cards and codes, redemptions and refunds (a saga with volunteer-points' ledger), daily
settlement and its reconciliation, the member units' rotating duty, and the needs, resources
and projects lists."""
