-- Issue 14: ListDisputes' state filter has an index in the listing's order, so a page of answered (or open)
-- disputes starts at its keyset position and a state nobody is in is one index probe.
CREATE INDEX disputes_state ON disputes (state, create_time DESC, id DESC);
