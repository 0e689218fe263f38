-- refdata.quality(): coverage and disagreements between sources, as counts a data steward can
-- act on. Parameter: jobs (the source name under which refused OpenFIGI jobs are kept).
SELECT 'entities (current)' AS measure, count(*) AS value FROM refdata.entities WHERE valid_to IS NULL
UNION ALL SELECT 'entities with a BIC', count(DISTINCT to_id) FROM refdata.xref WHERE kind = 'BIC-LEI' AND retired_on IS NULL
UNION ALL SELECT 'entities with a PermID', count(DISTINCT to_id) FROM refdata.xref WHERE kind = 'PERMID-LEI' AND retired_on IS NULL
UNION ALL SELECT 'ISINs mapped to an issuer (GLEIF)', count(DISTINCT from_id) FROM refdata.xref WHERE kind = 'ISIN-LEI' AND retired_on IS NULL
UNION ALL SELECT 'ISINs mapped to a FIGI (OpenFIGI)', count(DISTINCT from_id) FROM refdata.xref WHERE kind = 'ISIN-FIGI' AND retired_on IS NULL
UNION ALL SELECT 'ISINs with an issuer but no FIGI', count(DISTINCT from_id) FROM refdata.xref l
    WHERE kind = 'ISIN-LEI' AND retired_on IS NULL AND NOT EXISTS (
        SELECT 1 FROM refdata.xref f WHERE f.kind = 'ISIN-FIGI' AND f.from_id = l.from_id AND f.retired_on IS NULL)
UNION ALL SELECT 'LEIs in mapping files unknown to the LEI records', count(DISTINCT to_id) FROM refdata.xref x
    WHERE kind IN ('BIC-LEI', 'ISIN-LEI') AND retired_on IS NULL
    AND NOT EXISTS (SELECT 1 FROM refdata.entities e WHERE e.lei = x.to_id)
UNION ALL SELECT 'entities lapsed (current status)', count(*) FROM refdata.entities WHERE valid_to IS NULL AND status = 'LAPSED'
UNION ALL SELECT 'identifiers linked to more than one LEI', count(*) FROM (
    SELECT kind, from_id FROM refdata.xref WHERE kind IN ('BIC-LEI', 'ISIN-LEI', 'PERMID-LEI') AND retired_on IS NULL
    GROUP BY kind, from_id HAVING count(DISTINCT to_id) > 1) AS ambiguous
UNION ALL SELECT 'mapping-file links to lapsed entities', count(*) FROM refdata.xref x
    JOIN refdata.entities e ON e.lei = x.to_id AND e.valid_to IS NULL AND e.status = 'LAPSED'
    WHERE x.kind IN ('BIC-LEI', 'ISIN-LEI') AND x.retired_on IS NULL
UNION ALL SELECT 'links retired (no longer in the latest file)', count(*) FROM refdata.xref WHERE retired_on IS NOT NULL
UNION ALL SELECT 'PermID matches kept as candidates (too weak to link)', count(*) FROM refdata.permid_candidates
UNION ALL SELECT 'distinct values rejected by validation', count(*) FROM refdata.rejects WHERE source <> :jobs
UNION ALL SELECT 'OpenFIGI jobs refused (error text kept)', count(*) FROM refdata.rejects WHERE source = :jobs
UNION ALL SELECT 'instruments without a venue (MIC)', count(*) FROM refdata.instruments WHERE valid_to IS NULL AND mic IS NULL
UNION ALL SELECT 'instruments on an expired MIC', count(*) FROM refdata.instruments i
    JOIN refdata.markets m USING (mic) WHERE i.valid_to IS NULL AND m.status = 'EXPIRED'
UNION ALL SELECT 'entities whose country is not an ISO 3166-1 code', count(*) FROM refdata.entities e
    WHERE e.valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM refdata.countries c WHERE c.alpha_2 = e.country)
