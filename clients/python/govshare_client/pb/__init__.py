"""Typed messages and stubs generated from the public protos (do not edit)."""
