-- 0002: why a submitted chart was sampled for audit (docs/adr/0014-audit-sampling.md).
--
-- The sampling policy itself lives in organizations.settings -> 'audit_sampling' (jsonb, no DDL).
-- charts.audit_reason is set at every submission: the first sampling rule that selected the
-- chart, or NULL when none did (the chart was then accepted without audit and is `completed`).
-- Nullable and without a default, so the previous release's code keeps working against it.
-- The app role's table-level grants on charts (0001) cover the new column; RLS is unchanged.
-- Charts already waiting for audit keep NULL: they were submitted under the only policy there
-- was, review all, and the review queue reads NULL on a pending chart as 'all' (no backfill:
-- FORCE ROW LEVEL SECURITY hides every row from the owner running this file).

ALTER TABLE charts ADD COLUMN audit_reason text;

ALTER TABLE charts ADD CONSTRAINT charts_audit_reason_ck CHECK (
    audit_reason IS NULL
    OR audit_reason IN ('resubmission', 'all', 'new_coder', 'overrides', 'difficulty', 'random')
);
