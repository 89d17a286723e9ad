-- Since when each item of a published version has been published without a break (DataItem.listed_since). Grants
-- name items by machine name, so an item a catalogue update dropped and a later one added back (perhaps meaning
-- something else) was again answered under the grants made before it was dropped. The catalog now keeps, at each
-- publication, the publish time of the first version of the item's unbroken run of published versions
-- (services/catalog/lifecycle.listed), and the authorization service's decision leaves out of a grant the items
-- listed after the grant was made. This computes it for the versions published before, from their history: the
-- published versions of an entry in order, an item's run broken by a version without it (gaps and islands).
-- Versions never published (drafts, returned, withdrawn) have none, as new ones do.
WITH published AS (
    SELECT code, version, publish_time, items,
           row_number() OVER (PARTITION BY code ORDER BY version) AS position
    FROM entry_versions WHERE publish_time IS NOT NULL
), present AS (
    SELECT p.code, p.version, p.publish_time, item->>'machine_name' AS machine_name,
           p.position - row_number() OVER (PARTITION BY p.code, item->>'machine_name' ORDER BY p.position) AS run
    FROM published p CROSS JOIN LATERAL jsonb_array_elements(p.items) AS item
), listed AS (
    SELECT code, version, machine_name,
           min(publish_time) OVER (PARTITION BY code, machine_name, run) AS listed_since
    FROM present
)
UPDATE entry_versions v SET items = (
    SELECT jsonb_agg(e.item || jsonb_build_object('listed_since', to_char(l.listed_since AT TIME ZONE 'UTC',
                                                                          'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
                     ORDER BY e.position)
    FROM jsonb_array_elements(v.items) WITH ORDINALITY AS e(item, position)
    JOIN listed l ON l.code = v.code AND l.version = v.version AND l.machine_name = e.item->>'machine_name')
WHERE v.publish_time IS NOT NULL AND jsonb_array_length(v.items) > 0;
