"""The resource catalog service (DOMAIN §2): entries, their lifecycle and versions, search, due dates."""
