-- 0001: the whole SmartCoders data model (ARCHITECTURE §4).
--
-- Roles (created by `smartcoders migrate` on embedded PostgreSQL, by the DBA elsewhere):
--   smartcoders_owner  owns every object; runs migrations; not superuser.
--   smartcoders_app    the web and worker processes; owns nothing, NOSUPERUSER, NOBYPASSRLS.
-- Tenant isolation (INV-15): every org-owned table has FORCE ROW LEVEL SECURITY and a policy
-- comparing org_id with the transaction-local setting app.org_id (see app_current_org()).
-- A transaction that sets no organisation sees no org-owned rows at all.
-- Constraints and indexes are named <table>_<what>_{pk,fk,uq,ck,idx}.

CREATE FUNCTION app_current_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.org_id', true), '')::uuid $$;

CREATE FUNCTION app_platform_scope() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.platform', true), '') = 'on' $$;

-- Organisations ---------------------------------------------------------------------------

CREATE TABLE organizations (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    slug        text        NOT NULL,
    settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_pk PRIMARY KEY (id),
    CONSTRAINT organizations_slug_uq UNIQUE (slug),
    CONSTRAINT organizations_name_ck CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT organizations_slug_ck CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
);

-- Users and sessions ---------------------------------------------------------------------

CREATE TABLE users (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    email               text        NOT NULL,
    name                text        NOT NULL,
    role                text        NOT NULL,
    password_hash       text,
    password_changed_at timestamptz,
    is_active           boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    CONSTRAINT users_pk PRIMARY KEY (id),
    CONSTRAINT users_id_org_uq UNIQUE (id, org_id),
    CONSTRAINT users_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id),
    CONSTRAINT users_role_ck CHECK (role IN ('manager', 'supervisor', 'coder', 'analyst')),
    CONSTRAINT users_email_ck CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_name_ck CHECK (length(btrim(name)) BETWEEN 1 AND 200)
);
-- INV-3: one account per email, case-insensitively, across all organisations.
CREATE UNIQUE INDEX users_email_lower_uq ON users (lower(email));
CREATE INDEX users_org_role_idx ON users (org_id, role) WHERE is_active;

CREATE TABLE sessions (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    user_id             uuid        NOT NULL,
    created_at          timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoked_reason      text,
    client_ip           text,
    user_agent          text,
    CONSTRAINT sessions_pk PRIMARY KEY (id),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id, org_id) REFERENCES users (id, org_id),
    CONSTRAINT sessions_revoked_reason_ck CHECK (
        revoked_reason IS NULL OR revoked_reason IN
        ('logout', 'password_changed', 'deactivated', 'signed_out_elsewhere', 'expired', 'role_changed'))
);
CREATE INDEX sessions_user_active_idx ON sessions (org_id, user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_absolute_expiry_idx ON sessions (org_id, absolute_expires_at);

CREATE TABLE user_invitations (
    id          uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    token_hash  bytea       NOT NULL,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CONSTRAINT user_invitations_pk PRIMARY KEY (id),
    CONSTRAINT user_invitations_token_uq UNIQUE (token_hash),
    CONSTRAINT user_invitations_user_fk FOREIGN KEY (user_id, org_id) REFERENCES users (id, org_id)
);
CREATE INDEX user_invitations_user_idx ON user_invitations (org_id, user_id);

CREATE TABLE notifications (
    id          uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    kind        text        NOT NULL,
    title       text        NOT NULL,
    body        text        NOT NULL DEFAULT '',
    link        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    CONSTRAINT notifications_pk PRIMARY KEY (id),
    CONSTRAINT notifications_user_fk FOREIGN KEY (user_id, org_id) REFERENCES users (id, org_id)
);
CREATE INDEX notifications_unread_idx ON notifications (org_id, user_id, created_at DESC) WHERE read_at IS NULL;

-- Import and charts -----------------------------------------------------------------------

CREATE TABLE import_jobs (
    id              uuid        NOT NULL,
    org_id          uuid        NOT NULL,
    created_by      uuid,
    source          text        NOT NULL,
    status          text        NOT NULL DEFAULT 'queued',
    storage_path    text,
    file_count      integer     NOT NULL DEFAULT 0,
    files_done      integer     NOT NULL DEFAULT 0,
    charts_created  integer     NOT NULL DEFAULT 0,
    charts_skipped  integer     NOT NULL DEFAULT 0,
    errors          jsonb       NOT NULL DEFAULT '[]'::jsonb,
    attempts        integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    CONSTRAINT import_jobs_pk PRIMARY KEY (id),
    CONSTRAINT import_jobs_id_org_uq UNIQUE (id, org_id),
    CONSTRAINT import_jobs_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id),
    CONSTRAINT import_jobs_source_ck CHECK (source IN ('upload', 'cli', 'webhook', 'demo')),
    CONSTRAINT import_jobs_status_ck CHECK (status IN ('queued', 'running', 'succeeded', 'failed'))
);
CREATE INDEX import_jobs_pending_idx ON import_jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX import_jobs_org_recent_idx ON import_jobs (org_id, created_at DESC);

CREATE TABLE charts (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    import_job_id       uuid,
    source_patient_id   text        NOT NULL,
    source_encounter_id text        NOT NULL,
    patient_age_years   integer,
    patient_sex         text,
    record_type         text        NOT NULL DEFAULT 'other',
    discharged_alive    boolean,
    encounter_class     text,
    encounter_type      text,
    encounter_reason    text,
    encounter_start     timestamptz,
    encounter_end       timestamptz,
    provider_name       text,
    facility_name       text,
    specialty           text,
    difficulty          smallint,
    payload             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    clinical_note       text,
    status              text        NOT NULL DEFAULT 'draft',
    assignee_id         uuid,
    assigned_at         timestamptz,
    submitted_at        timestamptz,
    completed_at        timestamptz,
    code_set_version    text,
    version             integer     NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT charts_pk PRIMARY KEY (id),
    CONSTRAINT charts_id_org_uq UNIQUE (id, org_id),
    -- Natural key: re-importing a Synthea encounter never duplicates it.
    CONSTRAINT charts_source_encounter_uq UNIQUE (org_id, source_encounter_id),
    CONSTRAINT charts_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id),
    CONSTRAINT charts_import_job_fk FOREIGN KEY (import_job_id, org_id) REFERENCES import_jobs (id, org_id),
    CONSTRAINT charts_assignee_fk FOREIGN KEY (assignee_id, org_id) REFERENCES users (id, org_id),
    -- Seed ADR-016: these four statuses and no others.
    CONSTRAINT charts_status_ck CHECK (status IN ('draft', 'pending_audit', 'completed', 'returned')),
    CONSTRAINT charts_sex_ck CHECK (patient_sex IS NULL OR patient_sex IN ('F', 'M', 'U')),
    CONSTRAINT charts_record_type_ck CHECK (record_type IN ('maternal', 'newborn', 'other')),
    CONSTRAINT charts_age_ck CHECK (patient_age_years IS NULL OR patient_age_years BETWEEN 0 AND 130),
    CONSTRAINT charts_difficulty_ck CHECK (difficulty IS NULL OR difficulty BETWEEN 1 AND 5),
    CONSTRAINT charts_version_ck CHECK (version >= 1)
);
-- Queue queries: a coder's charts by status and age; unassigned work; the review queue.
CREATE INDEX charts_assignee_queue_idx ON charts (org_id, assignee_id, status, created_at);
CREATE INDEX charts_unassigned_idx ON charts (org_id, created_at) WHERE assignee_id IS NULL;
CREATE INDEX charts_status_idx ON charts (org_id, status, updated_at);
CREATE INDEX charts_review_queue_idx ON charts (org_id, submitted_at) WHERE status = 'pending_audit';
CREATE INDEX charts_specialty_idx ON charts (org_id, specialty, difficulty);
CREATE INDEX charts_import_job_idx ON charts (org_id, import_job_id);

CREATE TABLE chart_codes (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    chart_id            uuid        NOT NULL,
    kind                text        NOT NULL,
    code_system         text        NOT NULL,
    code                text        NOT NULL,
    description         text,
    rationale           text,
    override_rationale  text,
    sequence            integer     NOT NULL,
    is_principal        boolean     NOT NULL DEFAULT false,
    created_by          uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chart_codes_pk PRIMARY KEY (id),
    CONSTRAINT chart_codes_id_org_uq UNIQUE (id, org_id),
    CONSTRAINT chart_codes_chart_fk FOREIGN KEY (chart_id, org_id) REFERENCES charts (id, org_id) ON DELETE CASCADE,
    CONSTRAINT chart_codes_sequence_uq UNIQUE (chart_id, kind, sequence) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT chart_codes_kind_ck CHECK (kind IN ('diagnosis', 'procedure')),
    CONSTRAINT chart_codes_system_ck CHECK (code_system IN ('ICD-10-CM', 'ICD-10-PCS', 'other')),
    CONSTRAINT chart_codes_code_ck CHECK (length(code) BETWEEN 1 AND 16),
    CONSTRAINT chart_codes_sequence_ck CHECK (sequence >= 1),
    CONSTRAINT chart_codes_principal_ck CHECK (NOT is_principal OR kind = 'diagnosis')
);
CREATE UNIQUE INDEX chart_codes_one_principal_uq ON chart_codes (chart_id) WHERE is_principal;
CREATE INDEX chart_codes_org_code_idx ON chart_codes (org_id, code);

CREATE TABLE validation_results (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    chart_id            uuid        NOT NULL,
    chart_version       integer     NOT NULL,
    rule_id             text        NOT NULL,
    category            text        NOT NULL,
    severity            text        NOT NULL,
    rows                integer[]   NOT NULL DEFAULT '{}',
    procedure_rows      integer[]   NOT NULL DEFAULT '{}',
    message             text        NOT NULL,
    guideline_ref       text,
    overridable         boolean     NOT NULL DEFAULT false,
    overridden          boolean     NOT NULL DEFAULT false,
    code_set_version    text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT validation_results_pk PRIMARY KEY (id),
    CONSTRAINT validation_results_chart_fk FOREIGN KEY (chart_id, org_id) REFERENCES charts (id, org_id) ON DELETE CASCADE,
    CONSTRAINT validation_results_category_ck CHECK (category IN ('format', 'sequencing', 'comorbidity')),
    CONSTRAINT validation_results_severity_ck CHECK (severity IN ('error', 'warning', 'info')),
    CONSTRAINT validation_results_rule_ck CHECK (rule_id ~ '^R-[A-Z]{3}-[0-9]{2}$')
);
CREATE INDEX validation_results_chart_idx ON validation_results (org_id, chart_id, chart_version);
CREATE INDEX validation_results_rule_idx ON validation_results (org_id, rule_id, created_at);

-- Supervisor audit ------------------------------------------------------------------------

CREATE TABLE audits (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    chart_id            uuid        NOT NULL,
    submission_no       integer     NOT NULL,
    supervisor_id       uuid        NOT NULL,
    coder_id            uuid        NOT NULL,
    claimed_at          timestamptz NOT NULL DEFAULT now(),
    claim_expires_at    timestamptz NOT NULL,
    code_accuracy       numeric(5, 4),
    principal_correct   boolean,
    drg_correct         boolean,
    drg_before          integer,
    drg_after           integer,
    weight_before       numeric(8, 4),
    weight_after        numeric(8, 4),
    decision            text,
    decided_at          timestamptz,
    CONSTRAINT audits_pk PRIMARY KEY (id),
    CONSTRAINT audits_id_org_uq UNIQUE (id, org_id),
    CONSTRAINT audits_chart_fk FOREIGN KEY (chart_id, org_id) REFERENCES charts (id, org_id),
    CONSTRAINT audits_supervisor_fk FOREIGN KEY (supervisor_id, org_id) REFERENCES users (id, org_id),
    CONSTRAINT audits_coder_fk FOREIGN KEY (coder_id, org_id) REFERENCES users (id, org_id),
    CONSTRAINT audits_decision_ck CHECK (decision IS NULL OR decision IN ('approve', 'return')),
    CONSTRAINT audits_decided_ck CHECK ((decision IS NULL) = (decided_at IS NULL)),
    CONSTRAINT audits_accuracy_ck CHECK (code_accuracy IS NULL OR code_accuracy BETWEEN 0 AND 1)
);
-- At most one undecided audit per chart at a time.
CREATE UNIQUE INDEX audits_one_open_uq ON audits (chart_id) WHERE decision IS NULL;
CREATE INDEX audits_org_decided_idx ON audits (org_id, decided_at);
CREATE INDEX audits_coder_idx ON audits (org_id, coder_id, decided_at);

CREATE TABLE audit_findings (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    audit_id            uuid        NOT NULL,
    chart_code_id       uuid,
    verdict             text        NOT NULL,
    expected_code       text,
    category            text,
    severity            text,
    note                text,
    disputed_at         timestamptz,
    dispute_comment     text,
    resolution          text,
    resolved_at         timestamptz,
    resolved_by         uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_findings_pk PRIMARY KEY (id),
    CONSTRAINT audit_findings_audit_fk FOREIGN KEY (audit_id, org_id) REFERENCES audits (id, org_id) ON DELETE CASCADE,
    CONSTRAINT audit_findings_code_fk FOREIGN KEY (chart_code_id, org_id) REFERENCES chart_codes (id, org_id) ON DELETE SET NULL (chart_code_id),
    CONSTRAINT audit_findings_verdict_ck CHECK (verdict IN
        ('correct', 'wrong_code', 'wrong_sequence', 'not_supported', 'should_not_code', 'missing', 'extra')),
    CONSTRAINT audit_findings_severity_ck CHECK (severity IS NULL OR severity IN ('minor', 'major', 'critical')),
    CONSTRAINT audit_findings_resolution_ck CHECK (resolution IS NULL OR resolution IN ('upheld', 'overturned'))
);
CREATE INDEX audit_findings_audit_idx ON audit_findings (org_id, audit_id);
CREATE INDEX audit_findings_disputed_idx ON audit_findings (org_id, disputed_at) WHERE disputed_at IS NOT NULL AND resolved_at IS NULL;

CREATE TABLE feedback (
    id                  uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    audit_id            uuid        NOT NULL,
    chart_id            uuid        NOT NULL,
    coder_id            uuid        NOT NULL,
    supervisor_id       uuid        NOT NULL,
    body                text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    acknowledged_at     timestamptz,
    CONSTRAINT feedback_pk PRIMARY KEY (id),
    CONSTRAINT feedback_audit_fk FOREIGN KEY (audit_id, org_id) REFERENCES audits (id, org_id) ON DELETE CASCADE,
    CONSTRAINT feedback_chart_fk FOREIGN KEY (chart_id, org_id) REFERENCES charts (id, org_id),
    CONSTRAINT feedback_coder_fk FOREIGN KEY (coder_id, org_id) REFERENCES users (id, org_id),
    CONSTRAINT feedback_body_ck CHECK (length(body) BETWEEN 1 AND 20000)
);
CREATE INDEX feedback_coder_idx ON feedback (org_id, coder_id, created_at DESC);

-- Audit log (INV-12) ----------------------------------------------------------------------
-- Append-only and hash-chained per organisation: row_hash = sha256(prev_hash || canonical row).
-- org_id NULL is the platform chain (sign-in attempts for unknown accounts).

CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    org_id      uuid,
    seq         bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    actor_id    uuid,
    actor_role  text,
    action      text        NOT NULL,
    object_type text,
    object_id   text,
    outcome     text        NOT NULL,
    source_ip   text,
    request_id  text,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    prev_hash   text        NOT NULL,
    row_hash    text        NOT NULL,
    CONSTRAINT audit_log_pk PRIMARY KEY (id),
    CONSTRAINT audit_log_org_seq_uq UNIQUE NULLS NOT DISTINCT (org_id, seq),
    CONSTRAINT audit_log_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id),
    CONSTRAINT audit_log_outcome_ck CHECK (outcome IN ('success', 'failure')),
    CONSTRAINT audit_log_seq_ck CHECK (seq >= 1),
    CONSTRAINT audit_log_hash_ck CHECK (row_hash ~ '^[0-9a-f]{64}$' AND prev_hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_org_action_idx ON audit_log (org_id, action, created_at);
CREATE INDEX audit_log_object_idx ON audit_log (org_id, object_type, object_id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
-- Row triggers do not fire on TRUNCATE; a statement trigger does.
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Reliability: outbox, inbound dedupe, email outbox (ARCHITECTURE §6) --------------------

CREATE TABLE outbox_events (
    id              uuid        NOT NULL,
    org_id          uuid        NOT NULL,
    event_type      text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    available_at    timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    published_at    timestamptz,
    dead_lettered_at timestamptz,
    last_error      text,
    CONSTRAINT outbox_events_pk PRIMARY KEY (id),
    CONSTRAINT outbox_events_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id)
);
CREATE INDEX outbox_events_pending_idx ON outbox_events (org_id, available_at)
    WHERE published_at IS NULL AND dead_lettered_at IS NULL;

CREATE TABLE processed_events (
    event_id     text        NOT NULL,
    org_id       uuid        NOT NULL,
    source       text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    -- INV-4: an inbound event takes effect once.
    CONSTRAINT processed_events_event_id_uq UNIQUE (event_id),
    CONSTRAINT processed_events_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id)
);

CREATE TABLE pending_emails (
    id               uuid        NOT NULL,
    org_id           uuid        NOT NULL,
    message_id       text        NOT NULL,
    to_address       text        NOT NULL,
    subject          text        NOT NULL,
    body_text        text        NOT NULL,
    template         text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_error       text,
    sent_at          timestamptz,
    dead_lettered_at timestamptz,
    CONSTRAINT pending_emails_pk PRIMARY KEY (id),
    CONSTRAINT pending_emails_message_id_uq UNIQUE (message_id),
    CONSTRAINT pending_emails_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id),
    CONSTRAINT pending_emails_to_ck CHECK (to_address !~ '[\r\n]' AND length(to_address) <= 254),
    CONSTRAINT pending_emails_subject_ck CHECK (subject !~ '[\r\n]' AND length(subject) <= 200)
);
CREATE INDEX pending_emails_due_idx ON pending_emails (org_id, next_attempt_at)
    WHERE sent_at IS NULL AND dead_lettered_at IS NULL;

-- Code sets (global, read-only for the app) -----------------------------------------------

CREATE TABLE code_reference (
    code_set_version text    NOT NULL,
    code             text    NOT NULL,
    code_system      text    NOT NULL,
    description      text    NOT NULL,
    is_billable      boolean NOT NULL,
    parent_code      text,
    chapter          text,
    block            text,
    notes            jsonb   NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT code_reference_pk PRIMARY KEY (code_set_version, code),
    CONSTRAINT code_reference_system_ck CHECK (code_system IN ('ICD-10-CM', 'ICD-10-PCS'))
);

-- Metric rollups (recomputed by the worker; idempotent upserts) ---------------------------

CREATE TABLE metric_rollups (
    org_id       uuid             NOT NULL,
    metric       text             NOT NULL,
    bucket_start timestamptz      NOT NULL,
    dimension    text             NOT NULL DEFAULT '',
    value        double precision NOT NULL,
    sample_size  integer          NOT NULL DEFAULT 0,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT metric_rollups_pk PRIMARY KEY (org_id, metric, bucket_start, dimension),
    CONSTRAINT metric_rollups_org_fk FOREIGN KEY (org_id) REFERENCES organizations (id)
);

-- Platform (not org-owned) ----------------------------------------------------------------

CREATE TABLE scheduler_heartbeats (
    scheduler    text        NOT NULL,
    beat_at      timestamptz NOT NULL,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    CONSTRAINT scheduler_heartbeats_pk PRIMARY KEY (scheduler)
);

-- Row-level security (INV-15) -------------------------------------------------------------

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON organizations
    USING (id = app_current_org()) WITH CHECK (id = app_current_org());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'users', 'sessions', 'user_invitations', 'notifications', 'import_jobs', 'charts',
        'chart_codes', 'validation_results', 'audits', 'audit_findings', 'feedback',
        'outbox_events', 'processed_events', 'pending_emails', 'metric_rollups'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (org_id = app_current_org()) WITH CHECK (org_id = app_current_org())',
            t || '_tenant', t);
    END LOOP;
END
$$;

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_tenant ON audit_log
    USING (org_id = app_current_org() OR (org_id IS NULL AND app_platform_scope()))
    WITH CHECK (org_id = app_current_org() OR (org_id IS NULL AND app_platform_scope()));

-- Pre-authentication lookups --------------------------------------------------------------
-- Sign-in, registration and invitations must find an account before any organisation is
-- known. These SECURITY DEFINER functions (owned by smartcoders_owner, which alone has the
-- *_lookup policies below) return exactly the columns those flows need, nothing else.

CREATE POLICY users_owner_lookup ON users FOR SELECT TO smartcoders_owner USING (true);
CREATE POLICY organizations_owner_lookup ON organizations FOR SELECT TO smartcoders_owner USING (true);
CREATE POLICY user_invitations_owner_lookup ON user_invitations FOR SELECT TO smartcoders_owner USING (true);

CREATE FUNCTION auth_find_user(p_email text)
    RETURNS TABLE (id uuid, org_id uuid, role text, name text, password_hash text, is_active boolean,
                   password_changed_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT u.id, u.org_id, u.role, u.name, u.password_hash, u.is_active, u.password_changed_at
        FROM users AS u
        WHERE lower(u.email) = lower(btrim(p_email))
    $$;

CREATE FUNCTION auth_find_invitation(p_token_hash bytea)
    RETURNS TABLE (id uuid, org_id uuid, user_id uuid, expires_at timestamptz, used_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT i.id, i.org_id, i.user_id, i.expires_at, i.used_at
        FROM user_invitations AS i
        WHERE i.token_hash = p_token_hash
    $$;

CREATE FUNCTION app_org_id_by_slug(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT o.id FROM organizations AS o WHERE o.slug = lower(btrim(p_slug)) $$;

-- Jobs that span organisations iterate them explicitly (datalayer.scope.system_scope).
CREATE FUNCTION app_org_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT o.id FROM organizations AS o ORDER BY o.created_at, o.id $$;

REVOKE ALL ON FUNCTION auth_find_user(text), auth_find_invitation(bytea), app_org_id_by_slug(text), app_org_ids()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_find_user(text), auth_find_invitation(bytea), app_org_id_by_slug(text), app_org_ids()
    TO smartcoders_app;

-- Privileges of the app role --------------------------------------------------------------

GRANT SELECT, INSERT, UPDATE ON organizations TO smartcoders_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    users, sessions, user_invitations, notifications, import_jobs, charts, chart_codes,
    validation_results, audits, audit_findings, feedback, outbox_events, processed_events,
    pending_emails, metric_rollups, scheduler_heartbeats
    TO smartcoders_app;
-- INV-12: the app may read and append to the audit log, never change it.
GRANT SELECT, INSERT ON audit_log TO smartcoders_app;
GRANT SELECT ON code_reference, schema_migrations TO smartcoders_app;
