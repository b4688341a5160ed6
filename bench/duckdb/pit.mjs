// bench/historical's DuckDB baseline: the same point-in-time join as
// fs get-historical, in SQL (ASOF LEFT JOIN), CSV in and CSV out.
//   node pit.mjs features.csv rows.csv out.csv ttl-seconds
import { DuckDBInstance } from '@duckdb/node-api';

const [feats, rows, out, ttl] = process.argv.slice(2);
const q = (s) => "'" + s.replaceAll("'", "''") + "'";
const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await inst.connect();
// Among rows of equal (entity_id, event_timestamp) the newest created wins,
// then the later row of the file (as fs and pandas decide): ASOF JOIN takes
// any one of equal timestamps, so the ties are settled first.
await con.run(`
COPY (
  WITH f AS (
    SELECT *, row_number() OVER () AS rn
    FROM read_csv(${q(feats)}, header = true,
                  columns = {'entity_id': 'BIGINT', 'event_timestamp': 'BIGINT', 'created': 'BIGINT',
                             'f1': 'DOUBLE', 'f2': 'DOUBLE', 'f3': 'BIGINT'})
  ), latest AS (
    SELECT entity_id, event_timestamp, f1, f2, f3 FROM f
    QUALIFY row_number() OVER (PARTITION BY entity_id, event_timestamp ORDER BY created DESC, rn DESC) = 1
  ), e AS (
    SELECT *, row_number() OVER () AS rn
    FROM read_csv(${q(rows)}, header = true,
                  columns = {'entity_id': 'BIGINT', 'event_timestamp': 'BIGINT', 'label': 'BIGINT'})
  )
  SELECT e.entity_id, e.event_timestamp, e.label,
         CASE WHEN l.event_timestamp >= e.event_timestamp - ${Number(ttl)} THEN l.f1 END AS f1,
         CASE WHEN l.event_timestamp >= e.event_timestamp - ${Number(ttl)} THEN l.f2 END AS f2,
         CASE WHEN l.event_timestamp >= e.event_timestamp - ${Number(ttl)} THEN l.f3 END AS f3
  FROM e ASOF LEFT JOIN latest l
    ON e.entity_id = l.entity_id AND e.event_timestamp >= l.event_timestamp
  ORDER BY e.rn
) TO ${q(out)} (HEADER, DELIMITER ',')`);
