"""The authorization service: departments, business systems and their credentials, applications,
grants, coordination decisions, and the access decision (DOMAIN §1, §3, §4, §6, §10)."""
