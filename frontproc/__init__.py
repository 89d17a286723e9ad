"""The reference 前置机 (front-end processor): a department shares its own database with the platform.

Run by the department, next to its database (``govshare frontproc --config dept.yaml``): it serves
govshare.provider.v1.ProviderService for the datasets its configuration maps onto tables, views or queries,
accepts only calls carrying the platform's per-call assertion, logs what it served and limits the rate.
See docs/frontproc.md (the data officer's page) and docs/architecture.md ("Departments' 前置机").
"""
