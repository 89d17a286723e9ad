"""The web console for persons (DESIGN.md: "console"): server-rendered pages in Chinese over the public services.

It calls the services through the edge with the signed-in person's token and holds nothing else: no database,
no system secret, no key that could act as anyone but the person whose session it is.
"""
