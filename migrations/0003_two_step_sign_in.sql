-- 0003: two-step sign-in with a time-based one-time code (TOTP, RFC 6238; docs/adr/0019-two-step-sign-in.md).
--
-- users.totp_secret is the base32 key the user's authenticator app shares with us, set when they
-- turn two-step sign-in on and cleared when it is turned off; totp_enabled_at says since when.
-- totp_last_step is the time step (unix time / 30) of the last code accepted: a code is accepted
-- only for a later step, so a code seen by someone else cannot be used again (replay).
-- The app role's table-level grants on users (0001) cover the new columns; RLS is unchanged.
-- auth_find_user (the sign-in lookup before any organisation is known) also says whether the
-- account needs the second step; its result type changes, so it is dropped and created again.

ALTER TABLE users
    ADD COLUMN totp_secret text,
    ADD COLUMN totp_enabled_at timestamptz,
    ADD COLUMN totp_last_step bigint;

ALTER TABLE users ADD CONSTRAINT users_totp_ck CHECK ((totp_secret IS NULL) = (totp_enabled_at IS NULL));

DROP FUNCTION auth_find_user(text);

CREATE FUNCTION auth_find_user(p_email text)
    RETURNS TABLE (id uuid, org_id uuid, role text, name text, password_hash text, is_active boolean,
                   password_changed_at timestamptz, two_step boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT u.id, u.org_id, u.role, u.name, u.password_hash, u.is_active, u.password_changed_at,
               u.totp_enabled_at IS NOT NULL
        FROM users AS u
        WHERE lower(u.email) = lower(btrim(p_email))
    $$;

REVOKE ALL ON FUNCTION auth_find_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_find_user(text) TO smartcoders_app;
