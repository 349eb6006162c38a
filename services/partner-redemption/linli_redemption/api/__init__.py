"""partner-redemption's servicers: each parses the request, authorises the caller, calls the
domain and converts the answer (`convert`). No SQL and no transactions here: the domain
modules own their statements."""
