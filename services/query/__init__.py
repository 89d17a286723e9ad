"""The query service: online query, verification, batch download, disputes and the access audit trail."""
