-- ExchangeOidcToken signs a person in once per ID token: each one used is kept until it could no longer be
-- accepted anyway (its exp, the verifier's leeway and a margin for the clocks), so one leaked from a browser, a
-- log or a proxy does not sign its person in again. token_id is the sha256 of the token's jti, or of its signed
-- header and claims when it has none (services.authorization.oidc.VerifiedIdToken); entries past expire_time
-- are pruned by the sign-ins that follow (PersonStore.use_id_token).
CREATE TABLE oidc_used_tokens (
    token_id    text PRIMARY KEY,
    person_id   text NOT NULL,
    use_time    timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz NOT NULL
);
CREATE INDEX oidc_used_tokens_expiry ON oidc_used_tokens (expire_time);
