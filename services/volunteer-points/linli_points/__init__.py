"""volunteer-points: volunteers, pairings, the points ledger, rankings and year-end awards."""
