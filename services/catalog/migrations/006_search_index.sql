-- The in-process search index (services/catalog/index.py) is rebuilt from these rows at start and kept
-- current by change events plus a catch-up by update_time: PostgreSQL stays the only copy.
-- search_name_words / search_text_words: the version's name, and its summary and data item names, cut into
-- words by the segmenter (jieba, search mode) and joined by spaces, stored when the version is written so a
-- replica's rebuild does not segment a million documents again. '' (rows written before 006): the index
-- segments them itself.
ALTER TABLE entry_versions ADD COLUMN search_name_words text NOT NULL DEFAULT '';
ALTER TABLE entry_versions ADD COLUMN search_text_words text NOT NULL DEFAULT '';

-- The catch-up reads the entries changed since its last pass; every change of an entry writes update_time.
CREATE INDEX entry_versions_update_time_idx ON entry_versions (update_time);
