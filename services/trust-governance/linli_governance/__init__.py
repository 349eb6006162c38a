"""trust-governance: the org tree, trust-model rollout, trust common accounts, owners' votes and
sealed disclosures (see README "trust-governance")."""
