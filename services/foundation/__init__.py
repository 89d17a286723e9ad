"""The foundation-data service: the four foundation databases (DOMAIN §7) and the provider contract."""
