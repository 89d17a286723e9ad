-- The one-way bundles an intranet platform imported (services/bundle.py). A bundle older than the newest
-- one imported is refused: replayed through the gate, it would bring back values the extranet has since
-- corrected. (Numbered 003: 002 is taken by another change of the same release.)
CREATE TABLE bundle_imports (
    -- The manifest's creation time, on the extranet's clock: the order bundles were exported in.
    created          timestamptz PRIMARY KEY,
    manifest_sha256  text NOT NULL,
    key_id           text NOT NULL,
    imported_time    timestamptz NOT NULL DEFAULT now()
);
