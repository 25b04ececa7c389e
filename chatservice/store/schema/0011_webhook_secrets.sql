-- Webhook signing secrets sealed at rest (issue 13, with issue 12's
-- ENCRYPTION_KEY): see chatservice/store/sealing.py. {blob} is filled in per
-- database by chatservice.store.dialects.
--
-- The secret sealed with AES-256-GCM bound to the webhook's id (the value
-- names its key id), or NULL when secret holds it in plain text (no
-- ENCRYPTION_KEY, a webhook from before encryption). When it is set,
-- secret is ''. The rotation command re-seals these under the newest key.
ALTER TABLE webhooks ADD COLUMN sealed_secret {blob};
