-- A person who signs in through OpenID Connect is found by the IdP's username claim (preferred_username by
-- default), which OpenID Connect Core §5.7 says is no stable identifier: an IdP may let its users choose or change
-- it, and may give a name freed by a departed user to another. Only the issuer and the subject (iss, sub) name an
-- IdP account for good. The first ExchangeOidcToken of a person binds them to the (iss, sub) of its ID token; a
-- later token naming the person from another account is refused OIDC_SUBJECT_MISMATCH (PersonStore.use_id_token),
-- and one IdP account signs in as one person only. Persons stored before are bound at their next sign-in.
ALTER TABLE persons ADD COLUMN oidc_issuer text;
ALTER TABLE persons ADD COLUMN oidc_subject text;
CREATE UNIQUE INDEX persons_oidc_account ON persons (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;
